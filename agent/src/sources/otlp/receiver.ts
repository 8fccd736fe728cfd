// What both transports share: decode an export request body, map its spans,
// hand them to the pipeline all or nothing, and account for every span and
// every refused request. The transports only translate the outcome into
// their status codes.

import { nowUs } from '../../contract/time.ts';
import { RateLimitedLog } from '../../ops/rate-limited-log.ts';
import type { SourceContext, TableRecord } from '../../pipeline/source.ts';
import type { OtlpSourceConfig } from './config.ts';
import { MalformedRequest, mapExportRequest, type RejectReason } from './mapping.ts';
import { ExportTraceServiceRequest, ExportTraceServiceResponse } from './protos.ts';

export type Protocol = 'grpc' | 'http';
export type BodyFormat = 'protobuf' | 'json';

/** Request-level refusals: the spans were never decoded, so one count stands for the request. */
export type RefusalReason = 'malformed_request' | 'request_too_large' | 'receiver_busy' | 'receiver_stopping';

export type ExportOutcome =
  | {
      readonly kind: 'accepted';
      readonly received: number;
      readonly accepted: number;
      readonly rejected: number;
      /** Set when spans were rejected: the partial_success error_message. */
      readonly message: string | undefined;
    }
  | { readonly kind: 'malformed'; readonly message: string }
  | { readonly kind: 'busy'; readonly message: string };

const SOURCE_COLUMN: Record<Protocol, string> = { grpc: 'otlp-grpc', http: 'otlp-http' };

export class OtlpReceiver {
  readonly config: OtlpSourceConfig;
  private readonly ctx: SourceContext;
  private readonly name: string;
  private readonly log: RateLimitedLog;
  private inflight = 0;
  stopping = false;

  constructor(ctx: SourceContext, name: string, config: OtlpSourceConfig) {
    this.ctx = ctx;
    this.name = name;
    this.config = config;
    this.log = new RateLimitedLog(ctx.logger, 10_000);
  }

  get inflightBytes(): number {
    return this.inflight;
  }

  /**
   * Reserves `bytes` of the in-flight budget for a new request. A request is
   * always admitted when nothing else is in flight, so any request within
   * max_request_bytes can eventually be taken.
   */
  admit(bytes: number): boolean {
    if (this.inflight > 0 && this.inflight + bytes > this.config.max_inflight_bytes) return false;
    this.hold(bytes);
    return true;
  }

  /** Whether `more` bytes still fit the budget (checked as a streamed body grows). */
  fits(more: number): boolean {
    return this.inflight + more <= this.config.max_inflight_bytes;
  }

  hold(bytes: number): void {
    this.inflight += bytes;
    this.ctx.metrics.otlpInflightBytes.inc(bytes);
  }

  release(bytes: number): void {
    this.inflight -= bytes;
    this.ctx.metrics.otlpInflightBytes.dec(bytes);
  }

  /** Counts a request refused before its spans were decoded. */
  refuse(protocol: Protocol, reason: RefusalReason, detail: string): void {
    const result =
      reason === 'malformed_request'
        ? 'malformed'
        : reason === 'request_too_large'
          ? 'too_large'
          : reason === 'receiver_busy'
            ? 'busy'
            : 'stopping';
    this.ctx.metrics.otlpRequests.inc({ protocol, result });
    this.ctx.metrics.drop('spans', this.name, reason);
    this.log.warn(`${protocol}:${reason}`, { protocol, reason, detail }, 'OTLP export request refused');
  }

  /** Counts a request that is not an OTLP trace export at all (wrong path, method or media type). */
  unsupported(protocol: Protocol, detail: string): void {
    this.ctx.metrics.otlpRequests.inc({ protocol, result: 'unsupported' });
    this.log.warn(`${protocol}:unsupported`, { protocol, detail }, 'request to the OTLP receiver not supported');
  }

  /** Counts and logs a defect met while handling a request (answered with an internal error; one count per request). */
  failed(protocol: Protocol, err: unknown): void {
    this.ctx.metrics.otlpRequests.inc({ protocol, result: 'failed' });
    this.ctx.metrics.drop('spans', this.name, 'receiver_error');
    this.ctx.logger.error({ err, protocol }, 'OTLP export request failed');
  }

  private malformed(protocol: Protocol, message: string): ExportOutcome {
    this.refuse(protocol, 'malformed_request', message);
    return { kind: 'malformed', message };
  }

  /** Decodes, maps and offers one export request body (already decompressed and within limits). */
  export(protocol: Protocol, body: Uint8Array, format: BodyFormat): ExportOutcome {
    const { metrics } = this.ctx;
    metrics.otlpRequestBytes.observe({ protocol }, body.length);
    // Refuse before decoding when the pipeline is full: the client retries the
    // same request, so nothing is lost yet and nothing is counted as dropped.
    if (!this.ctx.hasCapacity()) {
      metrics.otlpRequests.inc({ protocol, result: 'busy' });
      return { kind: 'busy', message: 'the agent cannot take more data right now (spool or buffer full); retry later' };
    }
    let request: unknown;
    try {
      request =
        format === 'protobuf'
          ? ExportTraceServiceRequest.decode(body)
          : JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.length).toString('utf8'));
    } catch (err) {
      return this.malformed(protocol, describeDecodeError(err, format));
    }
    let mapped: ReturnType<typeof mapExportRequest>;
    try {
      mapped = mapExportRequest(request, { node: this.ctx.node, source: SOURCE_COLUMN[protocol], observedUs: nowUs() });
    } catch (err) {
      // Anything but MalformedRequest is a defect; the transport answers it as an internal error.
      if (!(err instanceof MalformedRequest)) throw err;
      return this.malformed(protocol, `not an OTLP trace export request: ${err.message}`);
    }

    metrics.otlpSpansReceived.inc({ protocol }, mapped.received);
    let rejected = 0;
    for (const [reason, n] of mapped.rejected) {
      rejected += n;
      metrics.otlpSpansRejected.inc({ protocol, reason }, n);
      metrics.drop('spans', this.name, reason, n);
    }
    if (rejected)
      this.log.warn(
        `${protocol}:rejected`,
        { protocol, rejected, received: mapped.received, first: mapped.firstProblem },
        'OTLP spans rejected',
      );

    if (mapped.rows.length) {
      const records: TableRecord<'spans'>[] = mapped.rows.map((row) => ({ table: 'spans', row }));
      // All or nothing; on refusal the pipeline has counted the spans as spool_full or buffer_full.
      if (!this.ctx.offer(records)) {
        metrics.otlpRequests.inc({ protocol, result: 'busy' });
        metrics.otlpSpansRejected.inc({ protocol, reason: 'pipeline_full' }, mapped.rows.length);
        return {
          kind: 'busy',
          message: 'the agent cannot take more data right now (spool or buffer full); retry later',
        };
      }
    }
    metrics.otlpRequests.inc({ protocol, result: rejected ? 'partial' : 'ok' });
    return {
      kind: 'accepted',
      received: mapped.received,
      accepted: mapped.rows.length,
      rejected,
      message: rejected ? partialMessage(mapped.received, mapped.rejected, mapped.firstProblem) : undefined,
    };
  }
}

/** The protobuf ExportTraceServiceResponse: empty when everything was taken, else a partial_success. */
export function encodeExportResponse(outcome: Extract<ExportOutcome, { kind: 'accepted' }>): Uint8Array {
  if (!outcome.rejected) return new Uint8Array(0);
  return ExportTraceServiceResponse.encode({
    partialSuccess: { rejectedSpans: outcome.rejected, errorMessage: outcome.message ?? '' },
  }).finish();
}

function partialMessage(received: number, rejected: Map<RejectReason, number>, first: string | undefined): string {
  const total = [...rejected.values()].reduce((a, b) => a + b, 0);
  const reasons = [...rejected].map(([reason, n]) => `${n} ${reason}`).join(', ');
  return `${total} of ${received} spans rejected (${reasons}); first: ${first}`;
}

function describeDecodeError(err: unknown, format: BodyFormat): string {
  // JSON.parse quotes part of the body in its message; the body may hold secrets, so it stays out of logs.
  if (err instanceof SyntaxError) return 'the body is not valid JSON';
  const detail = err instanceof Error ? err.message : String(err);
  return format === 'json'
    ? `the body is not valid OTLP/JSON: ${detail}`
    : `the body is not a valid ExportTraceServiceRequest protobuf: ${detail}`;
}

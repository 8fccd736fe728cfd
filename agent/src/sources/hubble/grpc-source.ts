// Hubble Observer client: one GetFlows call in follow mode against the node's
// Hubble socket, called again with a jittered backoff whenever the stream ends
// (grpc-js reconnects the channel, never the call). A resumed call asks for
// flows `since` shortly before the newest one received and drops the replayed
// ones by uuid. The stream is read with async iteration and reading stops
// while the pipeline is full: grpc-js then stops pulling from HTTP/2, the flow
// control window closes, and Hubble's ring buffer absorbs the lag — what it
// overwrites comes back as `lost_events`, which are counted as losses.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { nowUs } from '../../contract/time.ts';
import { RateLimitedLog } from '../../ops/rate-limited-log.ts';
import { OrderedCommits } from '../../pipeline/ordered-commits.ts';
import type { Source, SourceContext, SourceLag, TableRecord } from '../../pipeline/source.ts';
import type { FlowFilterConfig, HubbleGrpcSourceConfig } from './config.ts';
import { OverlapDedupe } from './dedupe.ts';
import { type HubbleEvent, HubbleFlowMapper } from './flow-mapper.ts';
import { deserializeResponse, FlowFilter, GET_FLOWS_PATH, serializeRequest, type WireResponse } from './proto.ts';
import { reportEvent } from './report.ts';

export type HubbleGrpcOptions = Omit<HubbleGrpcSourceConfig, 'type'>;

interface Checkpoint {
  /** Newest flow time (epoch µs) among the flows in committed spool files. */
  readonly newest_us: number;
}

export class HubbleGrpcSource implements Source {
  readonly kind = 'push';
  readonly name: string;
  private readonly options: HubbleGrpcOptions;
  private readonly dedupe: OverlapDedupe;
  private newestEmittedUs: number | undefined;
  private batch: TableRecord[] = [];
  private batchNewestUs = Number.NEGATIVE_INFINITY;
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly commits = new OrderedCommits<number>();
  private checkpointedUs = Number.NEGATIVE_INFINITY;
  /** Distinct node names seen (up to two): a relay mixes nodes and gap detection does not apply. */
  private readonly nodes = new Set<string>();
  /** Counted per emission: a labelled counter increment per flow costs more than the mapping. */
  private flowsUncounted = 0;
  private duplicatesUncounted = 0;

  constructor(options: HubbleGrpcOptions) {
    this.options = options;
    this.name = options.name;
    this.dedupe = new OverlapDedupe(options.resume_overlap * 1000, options.dedupe_max_entries);
  }

  lag(): SourceLag {
    return this.newestEmittedUs === undefined ? {} : { newestEventUs: this.newestEmittedUs };
  }

  async run(ctx: SourceContext): Promise<void> {
    const o = this.options;
    const client = new grpc.Client(o.address, credentialsOf(o), {
      'grpc.initial_reconnect_backoff_ms': o.reconnect_backoff_initial,
      'grpc.max_reconnect_backoff_ms': o.reconnect_backoff_max,
      // The flow stream can carry large L7 records; Hubble itself sends up to its own limit.
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      // The source owns its connection: closing the client closes the socket.
      'grpc.use_local_subchannel_pool': 1,
      ...(o.keepalive_time ? { 'grpc.keepalive_time_ms': o.keepalive_time } : {}),
      // Hubble's certificates name `<node>.<cluster>.hubble-grpc.cilium.io`, not the address dialled.
      ...(o.tls?.server_name
        ? { 'grpc.ssl_target_name_override': o.tls.server_name, 'grpc.default_authority': o.tls.server_name }
        : {}),
    });
    const mapper = new HubbleFlowMapper({ node: ctx.node, source: this.name });
    const log = new RateLimitedLog(ctx.logger, 60_000);
    const connected = ctx.metrics.hubbleStreamConnected.labels({ source: this.name });
    connected.set(0);
    const checkpointKey = `hubble:${this.name}`;
    const saved = ctx.checkpoint<Checkpoint>(checkpointKey)?.newest_us;
    const startedUs = nowUs() - o.initial_lookback * 1000;
    let attempt = 0;
    try {
      while (!ctx.signal.aborted) {
        const newest = this.dedupe.newest ?? (typeof saved === 'number' ? saved : undefined);
        const sinceUs = newest === undefined ? startedUs : newest - o.resume_overlap * 1000;
        const resumed = this.dedupe.newest !== undefined;
        const outcome = await this.stream(ctx, client, mapper, sinceUs, resumed, checkpointKey, log);
        connected.set(0);
        if (ctx.signal.aborted) break;
        ctx.metrics.hubbleStreamEnds.inc({ source: this.name, reason: outcome.reason });
        if (outcome.received > 0) attempt = 0;
        const delay = backoff(o.reconnect_backoff_initial, o.reconnect_backoff_max, attempt++);
        log.warn(
          `stream:${outcome.reason}`,
          { address: o.address, reason: outcome.reason, detail: outcome.detail, retryInMs: Math.round(delay) },
          'Hubble flow stream ended; calling GetFlows again',
        );
        await sleep(delay, ctx.signal);
      }
    } finally {
      client.close();
    }
  }

  private async stream(
    ctx: SourceContext,
    client: grpc.Client,
    mapper: HubbleFlowMapper,
    sinceUs: number,
    resumed: boolean,
    checkpointKey: string,
    log: RateLimitedLog,
  ): Promise<{ reason: string; detail?: string; received: number }> {
    const call = client.makeServerStreamRequest<Record<string, unknown>, WireResponse>(
      GET_FLOWS_PATH,
      serializeRequest,
      deserializeResponse,
      this.request(sinceUs),
    );
    const connected = ctx.metrics.hubbleStreamConnected.labels({ source: this.name });
    call.on('metadata', () => connected.set(1));
    const cancel = () => call.cancel();
    ctx.signal.addEventListener('abort', cancel, { once: true });
    let received = 0;
    // Set until the first flow of a resumed stream shows whether Hubble still had the newest flow we saw.
    let checkGap = resumed;
    try {
      for await (const response of call as AsyncIterable<WireResponse>) {
        if (received++ === 0) connected.set(1);
        if (response.error !== undefined) {
          ctx.metrics.drop('flows', this.name, 'undecodable_message');
          log.warn('undecodable', { error: response.error }, 'Hubble message could not be decoded; dropped');
          continue;
        }
        const event = mapper.event(response.message, () => bytesId(ctx.node, response.bytes), nowUs());
        if (event.kind === 'flow' && checkGap) {
          checkGap = false;
          this.checkResumeGap(ctx, event, log);
        }
        this.handle(ctx, event, log);
        if (this.batch.length >= this.options.batch_size) await this.flush(ctx, checkpointKey);
        else if ((this.batch.length || this.duplicatesUncounted) && !this.flushTimer)
          this.flushTimer = setTimeout(() => void this.flush(ctx, checkpointKey), this.options.batch_delay);
      }
      return { reason: 'end', received };
    } catch (err) {
      const e = err as grpc.ServiceError;
      const reason = typeof e.code === 'number' ? (grpc.status[e.code]?.toLowerCase() ?? 'error') : 'error';
      return { reason, detail: e.details ?? e.message, received };
    } finally {
      ctx.signal.removeEventListener('abort', cancel);
      call.cancel();
      await this.flush(ctx, checkpointKey);
    }
  }

  private request(sinceUs: number): Record<string, unknown> {
    const o = this.options;
    const since = { seconds: Math.floor(sinceUs / 1e6), nanos: (((sinceUs % 1e6) + 1e6) % 1e6) * 1000 };
    const req: Record<string, unknown> = {
      follow: true,
      since,
      whitelist: o.whitelist.map(filterMessage),
      blacklist: o.blacklist.map(filterMessage),
    };
    if (o.field_mask?.length) {
      // Without time and uuid a resumed stream could neither start at the right place nor drop the replay.
      const paths = [...new Set([...o.field_mask, 'time', 'uuid'])];
      req.field_mask = { paths };
      req.experimental = { field_mask: { paths } };
    }
    return req;
  }

  private handle(ctx: SourceContext, event: HubbleEvent, log: RateLimitedLog): void {
    if (event.kind !== 'flow') {
      reportEvent(ctx, this.name, event, log);
      return;
    }
    if (!this.dedupe.admit(event.dedupeKey, event.eventUs)) {
      this.duplicatesUncounted++;
      return;
    }
    this.flowsUncounted++;
    const reported = event.row.reported_node;
    if (reported && this.nodes.size < 2) this.nodes.add(reported);
    this.batch.push({ table: 'flows', row: event.row });
    if (event.eventUs > this.batchNewestUs) this.batchNewestUs = event.eventUs;
  }

  /**
   * A resumed stream starts before the newest flow already received, and
   * Hubble returns its buffer in arrival order, so the first flow of a resumed
   * stream is a replay — unless Hubble no longer has the flows received before
   * (its ring buffer wrapped, or Cilium restarted): then flows that arrived in
   * between may be gone too. Not applicable to a relay, which merges nodes.
   */
  private checkResumeGap(ctx: SourceContext, first: Extract<HubbleEvent, { kind: 'flow' }>, log: RateLimitedLog): void {
    if (this.nodes.size > 1 || this.dedupe.has(first.dedupeKey)) return;
    ctx.lose('flows', 'resume_gap', 1);
    log.warn(
      'resume_gap',
      { firstUs: first.eventUs, newestUs: this.dedupe.newest },
      'Hubble no longer had the flows received before the stream ended; flows in between may be lost',
    );
  }

  /** Emits the pending batch once the pipeline has room (at once when stopping). */
  private flush(ctx: SourceContext, checkpointKey: string): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.flowsUncounted) ctx.metrics.hubbleEvents.inc({ source: this.name, kind: 'flow' }, this.flowsUncounted);
    if (this.duplicatesUncounted)
      ctx.metrics.hubbleEvents.inc({ source: this.name, kind: 'duplicate' }, this.duplicatesUncounted);
    this.flowsUncounted = 0;
    this.duplicatesUncounted = 0;
    if (!this.batch.length) return this.flushing;
    const records = this.batch;
    const newest = this.batchNewestUs;
    this.batch = [];
    this.batchNewestUs = Number.NEGATIVE_INFINITY;
    this.flushing = this.flushing.then(async () => {
      await capacityOrAbort(ctx);
      if (this.newestEmittedUs === undefined || newest > this.newestEmittedUs) this.newestEmittedUs = newest;
      const ack = this.commits.track(this.newestEmittedUs);
      ctx.emit(records, () => {
        const committed = ack();
        if (committed !== undefined && committed > this.checkpointedUs) {
          this.checkpointedUs = committed;
          ctx.setCheckpoint(checkpointKey, { newest_us: committed } satisfies Checkpoint);
        }
      });
    });
    return this.flushing;
  }
}

function filterMessage(filter: FlowFilterConfig): Record<string, unknown> {
  return FlowFilter.toObject(FlowFilter.fromObject(filter as Record<string, unknown>)) as Record<string, unknown>;
}

function credentialsOf(o: HubbleGrpcOptions): grpc.ChannelCredentials {
  if (!o.tls) return grpc.credentials.createInsecure();
  const read = (path: string | undefined) => {
    if (!path) return null;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read the Hubble TLS file ${path}: ${(err as Error).message}`, { cause: err });
    }
  };
  return grpc.credentials.createSsl(read(o.tls.ca_file), read(o.tls.key_file), read(o.tls.cert_file));
}

/** Record id of a flow without a uuid: its node and wire bytes. */
function bytesId(node: string, bytes: Uint8Array): string {
  return createHash('sha256').update(`hubble-bytes\u0000${node}\u0000`).update(bytes).digest('hex').slice(0, 32);
}

/** Exponential backoff with jitter in [½, 1] of the step, so reconnecting agents spread out. */
export function backoff(initialMs: number, maxMs: number, attempt: number): number {
  const step = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return step / 2 + (Math.random() * step) / 2;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function capacityOrAbort(ctx: SourceContext): Promise<void> {
  if (ctx.signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      ctx.signal.removeEventListener('abort', done);
      resolve();
    };
    ctx.signal.addEventListener('abort', done, { once: true });
    ctx.waitForCapacity().then(done, done);
  });
}

// OTLP test kit: an in-process agent running the OTLP receiver on loopback
// ports, the OpenTelemetry JS SDK's real exporters as clients, and pyarrow
// reading back the `spans` rows the agent landed.
import { type Attributes, context, type Link, type SpanKind, type SpanStatus, trace } from '@opentelemetry/api';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  type IdGenerator,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import protobuf from 'protobufjs';
import { Agent } from '../../agent/src/agent.ts';
import type { AgentConfig } from '../../agent/src/config/schema.ts';
import { silentLogger } from '../../agent/src/ops/logger.ts';
import type { OtlpPorts, OtlpSource } from '../../agent/src/sources/otlp/otlp-source.ts';
import { createSource } from '../../agent/src/sources/registry.ts';
import type { ObjectStore } from '../../agent/src/store/store.ts';
import { testConfig } from './agent.ts';
import { runPython } from './python.ts';

export interface RunningAgent {
  readonly agent: Agent;
  readonly ports: Required<OtlpPorts>;
  readonly config: AgentConfig;
}

/**
 * Starts an agent whose only source is an OTLP receiver on free loopback
 * ports. The source is built from the config through the real schema and
 * registry, and handed to the agent so the test can learn its ports.
 */
export async function startOtlpAgent(
  dir: string,
  otlp: Record<string, unknown> = {},
  overrides: Record<string, unknown> = {},
  store?: ObjectStore,
): Promise<RunningAgent> {
  const parsed = testConfig(dir, {
    ...overrides,
    sources: [
      {
        type: 'otlp',
        grpc: { host: '127.0.0.1', port: 0 },
        http: { host: '127.0.0.1', port: 0 },
        ...otlp,
      },
    ],
  });
  const source = createSource(parsed.sources[0]!) as OtlpSource;
  const config = { ...parsed, sources: [] };
  const agent = new Agent(config, { logger: silentLogger, extraSources: [source], ...(store ? { store } : {}) });
  await agent.start('follow');
  const ports = await source.listening;
  return { agent, ports: { grpc: ports.grpc ?? 0, http: ports.http ?? 0 }, config: parsed };
}

export type ExporterKind = 'grpc' | 'http-proto' | 'http-json';
export const EXPORTERS: readonly ExporterKind[] = ['grpc', 'http-proto', 'http-json'];

export interface ExportOutcome {
  /** 0 = success, 1 = failed (the SDK's ExportResultCode). */
  readonly code: number;
  readonly error?: Error & { code?: number };
}

/** Sends spans with one of the SDK's OTLP exporters and returns its verdict. */
export async function exportWith(
  kind: ExporterKind,
  ports: Required<OtlpPorts>,
  spans: readonly ReadableSpan[],
  options: { gzip?: boolean; timeoutMillis?: number } = {},
): Promise<ExportOutcome> {
  const compression = (options.gzip ? 'gzip' : 'none') as never;
  const timeoutMillis = options.timeoutMillis ?? 10_000;
  const exporter =
    kind === 'grpc'
      ? new GrpcExporter({ url: `http://127.0.0.1:${ports.grpc}`, compression, timeoutMillis })
      : kind === 'http-proto'
        ? new ProtoExporter({ url: `http://127.0.0.1:${ports.http}/v1/traces`, compression, timeoutMillis })
        : new JsonExporter({ url: `http://127.0.0.1:${ports.http}/v1/traces`, compression, timeoutMillis });
  try {
    return await new Promise<ExportOutcome>((resolve) => exporter.export([...spans], (r) => resolve(r)));
  } finally {
    await exporter.shutdown();
  }
}

export interface SpanSpec {
  readonly name: string;
  readonly kind?: SpanKind;
  readonly attributes?: Attributes;
  readonly status?: SpanStatus;
  readonly links?: Link[];
  readonly events?: readonly { name: string; attributes?: Attributes }[];
  /** Epoch ms. */
  readonly startMs?: number;
  readonly durationMs?: number;
  /** Index of an earlier span in the list that is this span's parent. */
  readonly parent?: number;
}

/** Finished spans made by the real SDK, with the given resource attributes. */
export function makeSpans(
  specs: readonly SpanSpec[],
  resource: Attributes = { 'service.name': 'checkout' },
  idGenerator?: IdGenerator,
): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes(resource),
    spanProcessors: [new SimpleSpanProcessor({ exporter: memory })],
    ...(idGenerator ? { idGenerator } : {}),
  });
  const tracer = provider.getTracer('hoptrace-test', '1.0.0');
  const made: { spanContext(): { traceId: string; spanId: string; traceFlags: number } }[] = [];
  const base = Date.UTC(2026, 0, 15, 10, 0, 0);
  specs.forEach((spec, i) => {
    const startMs = spec.startMs ?? base + i;
    const parentCtx = spec.parent === undefined ? undefined : made[spec.parent]!.spanContext();
    const span = tracer.startSpan(
      spec.name,
      {
        ...(spec.kind === undefined ? {} : { kind: spec.kind }),
        ...(spec.attributes ? { attributes: spec.attributes } : {}),
        ...(spec.links ? { links: spec.links } : {}),
        startTime: startMs,
      },
      parentCtx ? trace.setSpanContext(context.active(), parentCtx) : undefined,
    );
    for (const e of spec.events ?? []) span.addEvent(e.name, e.attributes);
    if (spec.status) span.setStatus(spec.status);
    span.end(startMs + (spec.durationMs ?? 12));
    made.push(span);
  });
  return memory.getFinishedSpans();
}

/** Every `spans` row landed under `root`, timestamps as epoch µs, sorted by span id. */
export function readSpanRows(root: string): Promise<Record<string, unknown>[]> {
  return runPython<Record<string, unknown>[]>(
    `
import json, os, sys
import pyarrow as pa, pyarrow.parquet as pq
rows = []
for d, _, files in os.walk(sys.argv[1]):
    if '/spans/' not in d + '/':
        continue
    for f in sorted(files):
        if f.endswith('.parquet'):
            t = pq.read_table(os.path.join(d, f))
            cols = [c.cast(pa.int64()) if pa.types.is_timestamp(c.type) else c for c in t.columns]
            rows.extend(pa.table(cols, names=t.column_names).to_pylist())
rows.sort(key=lambda r: (r['span_id'], r['trace_id']))
print(json.dumps(rows))
`,
    [root],
  );
}

// A wider OTLP schema than the receiver's, for tests that must put on the
// wire what the receiver skips (events, links, trace state, key-value-list and
// bytes attribute values, status messages). Field numbers from
// opentelemetry-proto.
const WIDE_SCHEMA = `
syntax = "proto3";
package wide;
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3;
  double double_value = 4; ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; } }
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message Scope { string name = 1; string version = 2; repeated KeyValue attributes = 3; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; }
message Link { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; repeated KeyValue attributes = 4; fixed32 flags = 6; }
message Status { string message = 2; int32 code = 3; }
message Span { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; string name = 5;
  int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9;
  uint32 dropped_attributes_count = 10; repeated Event events = 11; repeated Link links = 13; Status status = 15; fixed32 flags = 16; }
message ScopeSpans { Scope scope = 1; repeated Span spans = 2; string schema_url = 3; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message Request { repeated ResourceSpans resource_spans = 1; }
`;
const wideRequest = protobuf.parse(WIDE_SCHEMA).root.lookupType('wide.Request');

const ID_KEYS = new Set(['traceId', 'spanId', 'parentSpanId']);

/** Converts an OTLP/JSON request object to the equivalent protobuf bytes (hex ids → bytes, enum names → numbers). */
export function jsonToProtobuf(request: unknown): Uint8Array {
  const convert = (v: unknown, key?: string): unknown => {
    if (Array.isArray(v)) return v.map((x) => convert(x));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, convert(x, k)]));
    if (key && ID_KEYS.has(key) && typeof v === 'string') return Buffer.from(v, 'hex');
    if (key === 'bytesValue' && typeof v === 'string') return Buffer.from(v, 'base64');
    return v;
  };
  const message = wideRequest.fromObject(convert(request) as Record<string, unknown>);
  return wideRequest.encode(message).finish();
}

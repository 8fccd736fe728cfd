// Spans as the OpenTelemetry SDK's batch span processor exports them: per
// pod, every 5 s, one OTLP ExportTraceServiceRequest with the spans that
// ended since the last export, encoded as OTLP/JSON (hex ids, enums as
// numbers, 64-bit integers as strings, lowerCamelCase keys).
import type { Pod } from '../model.ts';
import type { SpanRecord, Tag } from '../observations.ts';

const S = 1_000_000;
export const EXPORT_INTERVAL_US = 5 * S;

export interface OtlpBatch {
  readonly pod: Pod;
  /** True time the SDK sends the request. */
  readonly sendUs: number;
  readonly body: Record<string, unknown>;
  readonly spans: readonly SpanRecord[];
  readonly tags: Tag[];
}

type AnyValue = { stringValue: string } | { intValue: string } | { arrayValue: { values: AnyValue[] } };

function value(v: string | number | readonly string[]): AnyValue {
  if (typeof v === 'number') return { intValue: String(v) };
  if (typeof v === 'string') return { stringValue: v };
  return { arrayValue: { values: v.map((s) => ({ stringValue: s })) } };
}

const kv = (attrs: Readonly<Record<string, string | number | readonly string[]>>) =>
  Object.entries(attrs).map(([key, v]) => ({ key, value: value(v) }));

const nanos = (us: number, skewUs: number) => `${BigInt(us + skewUs) * 1000n}`;

/** Groups spans into export requests per pod and interval (the node's clock stamps the spans). */
export function otlpBatches(spans: readonly SpanRecord[]): OtlpBatch[] {
  const groups = new Map<string, { pod: Pod; sendUs: number; spans: SpanRecord[] }>();
  for (const s of spans) {
    const phase = (s.pod.uid.charCodeAt(1) * 104_729) % EXPORT_INTERVAL_US;
    const sendUs = Math.ceil((s.endUs - phase) / EXPORT_INTERVAL_US) * EXPORT_INTERVAL_US + phase;
    const key = `${s.pod.uid}@${sendUs}`;
    let g = groups.get(key);
    if (!g) {
      g = { pod: s.pod, sendUs, spans: [] };
      groups.set(key, g);
    }
    g.spans.push(s);
  }
  const out: OtlpBatch[] = [];
  for (const g of groups.values()) {
    const p = g.pod;
    const skew = p.node.skewUs;
    const body = {
      resourceSpans: [
        {
          resource: {
            attributes: kv({
              'service.name': p.workload.name,
              'service.namespace': p.namespace,
              'k8s.namespace.name': p.namespace,
              'k8s.pod.name': p.name,
              'k8s.pod.uid': p.uid,
              'k8s.node.name': p.node.name,
              'k8s.container.name': p.workload.container,
              'telemetry.sdk.language': 'nodejs',
              'telemetry.sdk.name': 'opentelemetry',
              'telemetry.sdk.version': '2.2.0',
            }),
          },
          scopeSpans: [
            {
              scope: { name: g.spans[0]!.scope, version: '0.207.0' },
              spans: g.spans.map((s) => ({
                traceId: s.traceId,
                spanId: s.spanId,
                ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
                flags: 257,
                name: s.name,
                kind: s.kind,
                startTimeUnixNano: nanos(s.startUs, skew),
                endTimeUnixNano: nanos(s.endUs, skew),
                attributes: kv(s.attributes),
                status: s.statusCode === 2 ? { code: 2 } : {},
              })),
            },
          ],
        },
      ],
    };
    out.push({ pod: p, sendUs: g.sendUs, body, spans: g.spans, tags: g.spans.flatMap((s) => s.tags) });
  }
  return out.sort((a, b) => a.sendUs - b.sendUs || (a.pod.uid < b.pod.uid ? -1 : 1));
}

// The only header values that may leave the agent are correlation ids. This
// module names them and parses the trace-context formats into contract
// columns (lowercase hex, validated), discarding everything else.

/** Headers whose values the agent keeps (lowercase). */
export const ALLOWED_HEADERS: ReadonlySet<string> = new Set([
  'x-request-id',
  'traceparent',
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-amzn-trace-id',
]);

export interface TraceIds {
  readonly traceId?: string;
  readonly spanId?: string;
}

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const ZERO32 = '0'.repeat(32);
const ZERO16 = '0'.repeat(16);

function traceIdOf(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  const v = raw.trim().toLowerCase();
  // B3 allows 64-bit trace ids; they are left-padded to 128 bits.
  const id = v.length === 16 ? v.padStart(32, '0') : v;
  return HEX32.test(id) && id !== ZERO32 ? id : undefined;
}

function spanIdOf(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  const v = raw.trim().toLowerCase();
  return HEX16.test(v) && v !== ZERO16 ? v : undefined;
}

/** W3C `traceparent`: `00-<trace-id>-<parent-id>-<flags>`. */
export function parseTraceparent(value: string | undefined): TraceIds {
  if (!value) return {};
  const parts = value.trim().toLowerCase().split('-');
  if (parts.length < 4 || !/^[0-9a-f]{2}$/.test(parts[0]!) || parts[0] === 'ff') return {};
  const traceId = traceIdOf(parts[1]);
  const spanId = traceId ? spanIdOf(parts[2]) : undefined;
  return traceId ? { traceId, ...(spanId ? { spanId } : {}) } : {};
}

/** B3 single header: `<trace-id>-<span-id>[-<sampled>[-<parent>]]`, or `0`/`1`/`d` alone. */
export function parseB3(value: string | undefined): TraceIds {
  if (!value) return {};
  const [t, s] = value.trim().split('-');
  const traceId = traceIdOf(t);
  const spanId = traceId ? spanIdOf(s) : undefined;
  return traceId ? { traceId, ...(spanId ? { spanId } : {}) } : {};
}

/** B3 multi headers: `x-b3-traceid` and `x-b3-spanid`. */
export function parseB3Multi(traceIdHeader: string | undefined, spanIdHeader: string | undefined): TraceIds {
  const traceId = traceIdOf(traceIdHeader);
  const spanId = traceId ? spanIdOf(spanIdHeader) : undefined;
  return traceId ? { traceId, ...(spanId ? { spanId } : {}) } : {};
}

/** `X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Parent=…;Sampled=1` → the Root. */
export function parseAmznTraceId(value: string | undefined): string | undefined {
  if (!value) return undefined;
  for (const part of value.split(';')) {
    const [k, v] = part.split('=');
    if (k?.trim().toLowerCase() === 'root' && v && /^1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}$/.test(v.trim()))
      return v.trim().toLowerCase();
  }
  return undefined;
}

/**
 * Trace ids from whatever correlation headers a record carries, in order of
 * precedence: W3C traceparent, B3 single, B3 multi.
 */
export function traceIdsFromHeaders(get: (name: string) => string | undefined): TraceIds {
  const w3c = parseTraceparent(get('traceparent'));
  if (w3c.traceId) return w3c;
  const b3 = parseB3(get('b3'));
  if (b3.traceId) return b3;
  return parseB3Multi(get('x-b3-traceid'), get('x-b3-spanid'));
}

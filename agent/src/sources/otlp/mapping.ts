// OTLP spans → `spans` rows. One walker serves both encodings: protobuf
// messages decoded from the trimmed protos and OTLP/JSON objects share the
// lowerCamelCase field names, and the few values whose representation
// differs (ids: bytes or hex; 64-bit integers: Long, string or number; enums:
// number or name) are told apart by their runtime type.
//
// Privacy: attributes are read through an allow-list of keys. Everything
// else — bodies, db statements, url.query and full URLs, header values other
// than x-request-id, enduser ids, status messages — is never copied, and
// events and links are not even decoded (they are absent from the protos and
// never read from JSON).
import type { SpanRow } from '../../contract/generated.ts';
import { SCHEMA_VERSION } from '../../contract/generated.ts';
import { recordId } from '../../contract/record-id.ts';
import { splitTarget } from '../../privacy/url.ts';

/** Why a span was refused; each is a drop reason and appears in partial_success. */
export type RejectReason =
  | 'malformed_span'
  | 'invalid_trace_id'
  | 'invalid_span_id'
  | 'invalid_parent_span_id'
  | 'invalid_timestamps'
  | 'end_before_start';

/** The request as a whole is not an OTLP trace export (answered 400 / INVALID_ARGUMENT). */
export class MalformedRequest extends Error {
  override readonly name = 'MalformedRequest';
}

export interface MapContext {
  readonly node: string;
  /** Row `source` column: `otlp-grpc` or `otlp-http`. */
  readonly source: string;
  readonly observedUs: number;
}

export interface MapResult {
  readonly rows: SpanRow[];
  /** Spans in the request, accepted or not. */
  received: number;
  readonly rejected: Map<RejectReason, number>;
  /** Where and why the first span was refused, for the partial_success message. */
  firstProblem: string | undefined;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** OTLP/JSON keys are lowerCamelCase; the proto field names are tolerated too (protojson accepts both). */
function pick(o: Obj, camel: string, snake: string): unknown {
  const v = o[camel];
  return v === undefined ? o[snake] : v;
}

/** Own properties only: decoded protobuf messages carry defaults for unset oneof members on their prototype. */
function ownPick(o: Obj, camel: string, snake: string): unknown {
  if (Object.hasOwn(o, camel)) return o[camel];
  return Object.hasOwn(o, snake) ? o[snake] : undefined;
}

function list(o: Obj, camel: string, snake: string, where: string): readonly unknown[] {
  const v = pick(o, camel, snake);
  if (v == null) return [];
  if (!Array.isArray(v)) throw new MalformedRequest(`${where}.${camel} is not a list`);
  return v;
}

// --- ids --------------------------------------------------------------------

const HEX = /^[0-9a-fA-F]+$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * Lowercase hex of an id given as bytes (protobuf) or hex (OTLP/JSON, any
 * case). `null` when absent or empty, `undefined` when malformed — including
 * base64, which generic protobuf-JSON encoders write but OTLP/JSON forbids.
 */
export function idHex(v: unknown, bytes: number): string | null | undefined {
  if (v == null) return null;
  if (typeof v === 'string') {
    if (v === '') return null;
    return v.length === bytes * 2 && HEX.test(v) ? v.toLowerCase() : undefined;
  }
  if (v instanceof Uint8Array) {
    if (v.length === 0) return null;
    if (v.length !== bytes) return undefined;
    return Buffer.from(v.buffer, v.byteOffset, v.length).toString('hex');
  }
  // The protobuf decoder's default for an absent bytes field is an empty array.
  if (Array.isArray(v) && v.length === 0) return null;
  return undefined;
}

// --- 64-bit integers ----------------------------------------------------------

interface LongLike {
  readonly low: number;
  readonly high: number;
}
const isLong = (v: unknown): v is LongLike =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as LongLike).low === 'number' &&
  typeof (v as LongLike).high === 'number';

const DIGITS = /^\d{1,20}$/;

/**
 * Epoch microseconds from unsigned nanoseconds as a Long (protobuf), a
 * decimal string (OTLP/JSON) or a number. Exact: nanoseconds beyond 2^53 are
 * never put through a double. `undefined` when malformed or when the
 * microseconds exceed 2^53 (the year 2255), which rows cannot hold exactly.
 */
export function nanosToMicros(v: unknown): number | undefined {
  if (typeof v === 'string') {
    if (!DIGITS.test(v)) return undefined;
    if (v.length <= 3) return 0;
    const us = Number(v.slice(0, -3));
    return Number.isSafeInteger(us) ? us : undefined;
  }
  if (typeof v === 'number') {
    const us = Math.floor(v / 1000);
    return v >= 0 && Number.isSafeInteger(us) ? us : undefined;
  }
  if (isLong(v)) {
    const high = v.high >>> 0;
    const low = v.low >>> 0;
    // ns = high·2³² + low and 2³² = 1000·4294967 + 296, so ns / 1000 splits
    // into parts that each stay exact in a double.
    const us = high * 4294967 + Math.floor((high * 296 + low) / 1000);
    return Number.isSafeInteger(us) ? us : undefined;
  }
  return undefined;
}

function toInt(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
  if (typeof v === 'string') return /^-?\d{1,15}$/.test(v) ? Number(v) : undefined;
  if (isLong(v)) {
    const n = (v as unknown as { toNumber?: () => number }).toNumber?.();
    return n !== undefined && Number.isSafeInteger(n) ? n : undefined;
  }
  return undefined;
}

// --- attribute values -------------------------------------------------------

function anyString(v: unknown): string | undefined {
  if (!isObj(v)) return undefined;
  const s = ownPick(v, 'stringValue', 'string_value');
  return typeof s === 'string' ? s : undefined;
}

/** Integers sent as intValue, as a decimal stringValue, or as an integral doubleValue. */
function anyInt(v: unknown): number | undefined {
  if (!isObj(v)) return undefined;
  const i = ownPick(v, 'intValue', 'int_value');
  if (i !== undefined) return toInt(i);
  const s = ownPick(v, 'stringValue', 'string_value');
  if (typeof s === 'string') return /^\d{1,10}$/.test(s.trim()) ? Number(s.trim()) : undefined;
  const d = ownPick(v, 'doubleValue', 'double_value');
  return typeof d === 'number' && Number.isSafeInteger(d) ? d : undefined;
}

/** Header attributes are string arrays; the first value counts. A plain string is accepted too. */
function anyFirstString(v: unknown): string | undefined {
  const s = anyString(v);
  if (s !== undefined) return s;
  if (!isObj(v)) return undefined;
  const arr = ownPick(v, 'arrayValue', 'array_value');
  if (!isObj(arr)) return undefined;
  const values = pick(arr, 'values', 'values');
  if (!Array.isArray(values)) return undefined;
  for (const item of values) {
    const first = anyString(item);
    if (first) return first;
  }
  return undefined;
}

const nonEmpty = (s: string | undefined): string | undefined => (s === undefined || s === '' ? undefined : s);
const port = (n: number | undefined): number | undefined => (n !== undefined && n >= 0 && n <= 65535 ? n : undefined);
const int32 = (n: number | undefined): number | undefined =>
  n !== undefined && n >= 0 && n <= 2147483647 ? n : undefined;

// --- the allow-list ---------------------------------------------------------

/** Resource attributes kept, by column. */
const RESOURCE_KEYS = new Map<string, number>([
  ['service.name', 0],
  ['k8s.namespace.name', 1],
  ['k8s.pod.name', 2],
  ['k8s.pod.uid', 3],
  ['k8s.node.name', 4],
  ['k8s.container.name', 5],
]);

/**
 * Span attributes read, current semantic conventions first, then the names
 * they replaced (HTTP/network conventions before 1.21). Nothing else is read.
 */
export const SPAN_ATTRIBUTE_ALLOW_LIST = [
  'http.request.method',
  'http.method',
  'http.route',
  'url.path',
  'http.target',
  'url.full',
  'http.url',
  'http.response.status_code',
  'http.status_code',
  'rpc.system',
  'rpc.system.name',
  'rpc.service',
  'rpc.method',
  'rpc.grpc.status_code',
  'rpc.response.status_code',
  'server.address',
  'server.port',
  'net.host.name',
  'net.host.port',
  'net.peer.name',
  'net.peer.port',
  'network.peer.address',
  'network.peer.port',
  'net.sock.peer.addr',
  'net.sock.peer.port',
  'net.peer.ip',
  'client.address',
  'client.port',
  'http.request.header.x-request-id',
  'guid:x-request-id',
] as const;

type SpanKey = (typeof SPAN_ATTRIBUTE_ALLOW_LIST)[number];
const SPAN_SLOT = new Map<string, number>(SPAN_ATTRIBUTE_ALLOW_LIST.map((k, i) => [k, i]));
const slot = (k: SpanKey): number => SPAN_SLOT.get(k)!;
const S = Object.fromEntries(SPAN_ATTRIBUTE_ALLOW_LIST.map((k) => [k, slot(k)])) as Record<SpanKey, number>;

export const RESOURCE_ATTRIBUTE_ALLOW_LIST: readonly string[] = [...RESOURCE_KEYS.keys()];

const KIND_NAMES = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'] as const;
const SERVER = 2;
const CLIENT = 3;
const PRODUCER = 4;
const STATUS_NAMES = ['UNSET', 'OK', 'ERROR'] as const;
const GRPC_CODES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

/** Enum values arrive as numbers (protobuf, OTLP/JSON) or, from lenient writers, as names. */
function enumIndex(v: unknown, names: readonly string[], prefix: string): number {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v < names.length ? v : 0;
  if (typeof v === 'string') {
    const name = v.startsWith(prefix) ? v.slice(prefix.length) : v;
    const i = names.indexOf(name);
    return i === -1 ? 0 : i;
  }
  return 0;
}

/** Span names are meant to be low-cardinality, but some instrumentations put the request target in them. */
function spanName(v: unknown): string {
  if (typeof v !== 'string') return '';
  const q = v.indexOf('?');
  return q > 0 && v.lastIndexOf('/', q) !== -1 ? v.slice(0, q) : v;
}

interface ResourceInfo {
  readonly service: string | undefined;
  readonly namespace: string | undefined;
  readonly pod: string | undefined;
  readonly podUid: string | undefined;
  readonly node: string | undefined;
  readonly container: string | undefined;
}

function resourceInfo(resource: unknown): ResourceInfo {
  const values: (string | undefined)[] = [undefined, undefined, undefined, undefined, undefined, undefined];
  if (isObj(resource)) {
    const attrs = resource.attributes;
    if (Array.isArray(attrs))
      for (const kv of attrs) {
        if (!isObj(kv) || typeof kv.key !== 'string') continue;
        const i = RESOURCE_KEYS.get(kv.key);
        if (i !== undefined) values[i] = nonEmpty(anyString(kv.value));
      }
  }
  return {
    service: values[0],
    namespace: values[1],
    pod: values[2],
    podUid: values[3],
    node: values[4],
    container: values[5],
  };
}

type Pairs = readonly (readonly [number, number])[];
/** Where the server's address is, by span kind: older conventions name it from the side the span was recorded on. */
const SERVER_PAIRS: Pairs = [[S['server.address'], S['server.port']]];
const SERVER_PAIRS_SERVER: Pairs = [...SERVER_PAIRS, [S['net.host.name'], S['net.host.port']]];
const SERVER_PAIRS_CLIENT: Pairs = [...SERVER_PAIRS, [S['net.peer.name'], S['net.peer.port']]];
/** The other end of the connection; on a server span the client's own report of its address comes last. */
const PEER_PAIRS: Pairs = [
  [S['network.peer.address'], S['network.peer.port']],
  [S['net.sock.peer.addr'], S['net.sock.peer.port']],
  [S['net.peer.ip'], S['net.peer.port']],
];
const PEER_PAIRS_SERVER: Pairs = [...PEER_PAIRS, [S['client.address'], S['client.port']]];

/** First address of the pairs present, with the port of the same pair. */
function endpoint(slots: readonly unknown[], pairs: Pairs): [string | undefined, number | undefined] {
  let fallbackPort: number | undefined;
  for (const [a, p] of pairs) {
    const address = nonEmpty(anyString(slots[a]));
    const portValue = port(anyInt(slots[p]));
    if (address !== undefined) return [address, portValue];
    fallbackPort ??= portValue;
  }
  return [undefined, fallbackPort];
}

function urlPath(slots: readonly unknown[]): string | undefined {
  for (const key of [S['url.path'], S['http.target'], S['url.full'], S['http.url']]) {
    const v = nonEmpty(anyString(slots[key!]));
    if (v !== undefined) return splitTarget(v).path;
  }
  return undefined;
}

function grpcStatus(slots: readonly unknown[]): number | undefined {
  const legacy = anyInt(slots[S['rpc.grpc.status_code']]);
  if (legacy !== undefined) return int32(legacy);
  const v = slots[S['rpc.response.status_code']];
  const n = anyInt(v);
  if (n !== undefined) return int32(n);
  const name = anyString(v);
  const i = name === undefined ? -1 : GRPC_CODES.indexOf(name);
  return i === -1 ? undefined : i;
}

const EMPTY_SLOTS: readonly unknown[] = [];

/** Maps one export request; throws MalformedRequest when its structure is not OTLP. */
export function mapExportRequest(request: unknown, ctx: MapContext): MapResult {
  if (!isObj(request)) throw new MalformedRequest('the request is not an ExportTraceServiceRequest object');
  const result: MapResult = { rows: [], received: 0, rejected: new Map(), firstProblem: undefined };
  const reject = (reason: RejectReason, where: string, why: string) => {
    result.rejected.set(reason, (result.rejected.get(reason) ?? 0) + 1);
    result.firstProblem ??= `${where}: ${why}`;
  };
  const resourceSpans = list(request, 'resourceSpans', 'resource_spans', 'request');
  for (let r = 0; r < resourceSpans.length; r++) {
    const rs = resourceSpans[r];
    const rWhere = `resourceSpans[${r}]`;
    if (!isObj(rs)) throw new MalformedRequest(`${rWhere} is not an object`);
    const resource = resourceInfo(rs.resource);
    const scopeSpans = list(rs, 'scopeSpans', 'scope_spans', rWhere);
    for (let s = 0; s < scopeSpans.length; s++) {
      const ss = scopeSpans[s];
      const sWhere = `${rWhere}.scopeSpans[${s}]`;
      if (!isObj(ss)) throw new MalformedRequest(`${sWhere} is not an object`);
      const scope = ss.scope;
      const scopeName = isObj(scope) && typeof scope.name === 'string' && scope.name !== '' ? scope.name : undefined;
      const spans = list(ss, 'spans', 'spans', sWhere);
      for (let i = 0; i < spans.length; i++) {
        result.received++;
        const span = spans[i];
        const where = `${sWhere}.spans[${i}]`;
        if (!isObj(span)) {
          reject('malformed_span', where, 'not an object');
          continue;
        }
        const row = mapSpan(span, resource, scopeName, ctx, where, reject);
        if (row) result.rows.push(row);
      }
    }
  }
  return result;
}

function mapSpan(
  span: Obj,
  resource: ResourceInfo,
  scopeName: string | undefined,
  ctx: MapContext,
  where: string,
  reject: (reason: RejectReason, where: string, why: string) => void,
): SpanRow | undefined {
  const traceId = idHex(pick(span, 'traceId', 'trace_id'), 16);
  if (!traceId || traceId === ZERO_TRACE) {
    reject('invalid_trace_id', where, 'traceId must be 16 bytes (32 hex characters in JSON) and not all zero');
    return undefined;
  }
  const spanId = idHex(pick(span, 'spanId', 'span_id'), 8);
  if (!spanId || spanId === ZERO_SPAN) {
    reject('invalid_span_id', where, 'spanId must be 8 bytes (16 hex characters in JSON) and not all zero');
    return undefined;
  }
  const parent = idHex(pick(span, 'parentSpanId', 'parent_span_id'), 8);
  if (parent === undefined) {
    reject('invalid_parent_span_id', where, 'parentSpanId must be empty or 8 bytes (16 hex characters in JSON)');
    return undefined;
  }
  const startUs = nanosToMicros(pick(span, 'startTimeUnixNano', 'start_time_unix_nano'));
  const endUs = nanosToMicros(pick(span, 'endTimeUnixNano', 'end_time_unix_nano'));
  if (!startUs || !endUs) {
    reject(
      'invalid_timestamps',
      where,
      'startTimeUnixNano and endTimeUnixNano must be set, non-zero, unsigned nanoseconds',
    );
    return undefined;
  }
  if (endUs < startUs) {
    reject('end_before_start', where, 'endTimeUnixNano is before startTimeUnixNano');
    return undefined;
  }
  const kind = enumIndex(span.kind, KIND_NAMES, 'SPAN_KIND_');
  const status = span.status;
  const statusCode = isObj(status) ? enumIndex(status.code, STATUS_NAMES, 'STATUS_CODE_') : 0;

  let slots = EMPTY_SLOTS;
  const attrs = span.attributes;
  if (Array.isArray(attrs) && attrs.length) {
    const found: unknown[] = [];
    for (const kv of attrs) {
      if (!isObj(kv)) continue;
      const key = kv.key;
      if (typeof key !== 'string') continue;
      const i = SPAN_SLOT.get(key);
      if (i !== undefined) found[i] = kv.value;
    }
    slots = found;
  }

  const [serverAddress, serverPort] = endpoint(
    slots,
    kind === SERVER ? SERVER_PAIRS_SERVER : kind === CLIENT || kind === PRODUCER ? SERVER_PAIRS_CLIENT : SERVER_PAIRS,
  );
  const [peerAddress, peerPort] = endpoint(slots, kind === SERVER ? PEER_PAIRS_SERVER : PEER_PAIRS);
  const httpStatus = anyInt(slots[S['http.response.status_code']]) ?? anyInt(slots[S['http.status_code']]);

  return {
    record_id: recordId(traceId, spanId),
    event_time: endUs,
    observed_time: ctx.observedUs,
    node: ctx.node,
    source: ctx.source,
    schema_version: SCHEMA_VERSION,
    trace_id: traceId,
    span_id: spanId,
    parent_span_id: parent === ZERO_SPAN ? null : parent,
    kind: KIND_NAMES[kind]!,
    name: spanName(span.name),
    service_name: resource.service ?? null,
    k8s_namespace: resource.namespace ?? null,
    k8s_pod: resource.pod ?? null,
    k8s_pod_uid: resource.podUid ?? null,
    k8s_node: resource.node ?? null,
    k8s_container: resource.container ?? null,
    start_time: startUs,
    end_time: endUs,
    duration_us: endUs - startUs,
    status_code: STATUS_NAMES[statusCode]!,
    http_method:
      nonEmpty(anyString(slots[S['http.request.method']])) ?? nonEmpty(anyString(slots[S['http.method']])) ?? null,
    http_route: nonEmpty(anyString(slots[S['http.route']])) ?? null,
    url_path: urlPath(slots) ?? null,
    http_status: int32(httpStatus) ?? null,
    rpc_system: nonEmpty(anyString(slots[S['rpc.system']])) ?? nonEmpty(anyString(slots[S['rpc.system.name']])) ?? null,
    rpc_service: nonEmpty(anyString(slots[S['rpc.service']])) ?? null,
    rpc_method: nonEmpty(anyString(slots[S['rpc.method']])) ?? null,
    grpc_status: grpcStatus(slots) ?? null,
    server_address: serverAddress ?? null,
    server_port: serverPort ?? null,
    peer_address: peerAddress ?? null,
    peer_port: peerPort ?? null,
    request_id:
      nonEmpty(anyFirstString(slots[S['http.request.header.x-request-id']])?.trim()) ??
      nonEmpty(anyString(slots[S['guid:x-request-id']])?.trim()) ??
      null,
    scope_name: scopeName ?? null,
  };
}

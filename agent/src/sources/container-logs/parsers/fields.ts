// The allow-list between proxy log formats and the contract. Parsers reduce
// a line to the canonical fields below (raw strings, whatever the format);
// only these fields exist, so a header, cookie or body a misconfigured format
// logs has nowhere to go. `buildRow` then types, validates and strips them:
// no query string (dropped or keyed-hashed), no userinfo, no header value but
// the correlation ids, every string bounded by the contract.
import { isIP } from 'node:net';
import { type HttpRequestRow, SCHEMA_VERSION, type UpstreamAttempt } from '../../../contract/generated.ts';
import { parseTimestampUs } from '../../../contract/time.ts';
import {
  parseAmznTraceId,
  parseB3,
  parseB3Multi,
  parseTraceparent,
  type TraceIds,
} from '../../../privacy/trace-context.ts';
import { type QueryHasher, splitTarget } from '../../../privacy/url.ts';

export const FIELD_NAMES = [
  'end_time',
  'start_time',
  'duration_s',
  'duration_ms',
  'method',
  'target',
  'path_only',
  'query',
  'protocol',
  'request_line',
  'status',
  'grpc_status',
  'bytes_received',
  'bytes_sent',
  'body_bytes_sent',
  'remote_addr',
  'remote_port',
  'local_addr',
  'local_port',
  'forwarded_for',
  'real_ip',
  'user_agent',
  'request_id',
  'authority',
  'up_addr',
  'up_status',
  'up_time_s',
  'up_length',
  'up_host',
  'up_service_time_ms',
  'up_cluster',
  'up_alternative',
  'up_local',
  'k8s_namespace',
  'k8s_service',
  'k8s_service_port',
  'k8s_ingress',
  'response_flags',
  'response_code_details',
  'route_name',
  'traceparent',
  'b3',
  'b3_trace_id',
  'b3_span_id',
  'amzn_trace_id',
  'trace_id',
  'span_id',
] as const;

export type FieldName = (typeof FIELD_NAMES)[number];
export type Fields = Partial<Record<FieldName, string>>;

/** Sets a field unless the format already gave it (the first variable in a format wins). */
export function setField(fields: Fields, name: FieldName, value: string | undefined): void {
  if (value === undefined || fields[name] !== undefined) return;
  const v = value.trim();
  // Proxies write `-` (or nothing) for an unset value.
  if (v === '' || v === '-') return;
  fields[name] = v;
}

/** Fields that make a JSON object an access record rather than an application log. */
export const ACCESS_EVIDENCE: ReadonlySet<FieldName> = new Set([
  'status',
  'method',
  'target',
  'path_only',
  'request_line',
  'up_addr',
  'up_host',
  'up_cluster',
  'response_flags',
  'bytes_sent',
  'body_bytes_sent',
  'duration_s',
  'duration_ms',
]);

// --- values ----------------------------------------------------------------------

const MONTHS: Record<string, number> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11,
};
const CLF = /^(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))? ([+-])(\d{2})(\d{2})$/;
const MIN_US = Date.UTC(2000, 0, 1) * 1000;
const MAX_US = Date.UTC(2200, 0, 1) * 1000;

// Lines written close together share their timestamp texts.
const recentTimes = new Map<string, number | undefined>();
let lastTimeText = '';
let lastTimeUs: number | undefined;

/** A timestamp as proxies log it: RFC 3339 / ISO 8601, nginx `$time_local`, or epoch (s, ms, µs, ns). */
export function parseTimeUs(text: string): number | undefined {
  // Consecutive lines mostly share the second: comparing with the last text is cheaper than hashing it.
  if (text === lastTimeText) return lastTimeUs;
  lastTimeText = text;
  lastTimeUs = parseTimeCached(text);
  return lastTimeUs;
}

function parseTimeCached(text: string): number | undefined {
  const cached = recentTimes.get(text);
  if (cached !== undefined || recentTimes.has(text)) return cached;
  if (recentTimes.size >= 256) recentTimes.clear();
  const us = parseTimeUncached(text);
  recentTimes.set(text, us);
  return us;
}

function parseTimeUncached(text: string): number | undefined {
  let us: number | undefined;
  const clf = CLF.exec(text);
  if (clf) {
    const month = MONTHS[clf[2]!];
    if (month === undefined) return undefined;
    const ms = Date.UTC(Number(clf[3]), month, Number(clf[1]), Number(clf[4]), Number(clf[5]), Number(clf[6]));
    const offsetMin = (clf[8] === '-' ? -1 : 1) * (Number(clf[9]) * 60 + Number(clf[10]));
    us = (ms - offsetMin * 60_000) * 1000 + (clf[7] ? Number(clf[7].padEnd(6, '0')) : 0);
  } else if (/^\d{9,19}(\.\d+)?$/.test(text)) {
    const n = Number(text);
    us = n >= 1e17 ? n / 1000 : n >= 1e14 ? n : n >= 1e11 ? n * 1000 : n * 1e6;
    us = Math.round(us);
  } else {
    us = parseTimestampUs(text);
  }
  return us !== undefined && us >= MIN_US && us < MAX_US ? us : undefined;
}

// The number readers below run several times per line: plain character loops, not regular expressions.

const isDigit = (c: number) => c >= 48 && c <= 57;

/** End of the run of ASCII digits from `i`. */
function digitsEnd(s: string, i: number): number {
  const n = s.length;
  while (i < n && isDigit(s.charCodeAt(i))) i++;
  return i;
}

/** A non-negative integer (1–16 digits) within `max`, or undefined. */
export function parseCount(text: string | undefined, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (text === undefined) return undefined;
  const len = text.length;
  if (len === 0 || len > 16 || digitsEnd(text, 0) !== len) return undefined;
  const n = Number(text);
  return n <= max ? n : undefined;
}

/** Seconds (`0.005`, `0.005s`) or milliseconds to microseconds: `\d{1,12}(\.\d{1,9})?s?`. */
export function durationUs(text: string | undefined, unitUs: number): number | undefined {
  if (text === undefined) return undefined;
  let end = text.length;
  if (end > 0 && text.charCodeAt(end - 1) === 115 /* s */) end--;
  const whole = digitsEnd(text, 0);
  if (whole === 0 || whole > 12) return undefined;
  if (whole !== end) {
    if (text.charCodeAt(whole) !== 46 /* . */) return undefined;
    const fraction = digitsEnd(text, whole + 1) - whole - 1;
    if (fraction < 1 || fraction > 9 || whole + 1 + fraction !== end) return undefined;
  }
  const v = Math.round(Number(end === text.length ? text : text.slice(0, end)) * unitUs);
  return Number.isSafeInteger(v) ? v : undefined;
}

export interface HostPort {
  /** The address as logged, without scheme and brackets. */
  readonly address: string;
  readonly port?: number;
  readonly ip?: string;
}

/** `a.b.c.d` or `a.b.c.d:port` (octets below 256, a port of 1–5 digits), else undefined. */
function parseV4(s: string): HostPort | undefined {
  const len = s.length;
  let i = 0;
  for (let octet = 0; octet < 4; octet++) {
    if (octet > 0) {
      if (s.charCodeAt(i) !== 46 /* . */) return undefined;
      i++;
    }
    const end = digitsEnd(s, i);
    if (end === i || end - i > 3) return undefined;
    let v = 0;
    for (; i < end; i++) v = v * 10 + s.charCodeAt(i) - 48;
    if (v > 255) return undefined;
  }
  if (i === len) return { address: s, port: undefined, ip: s };
  if (s.charCodeAt(i) !== 58 /* : */) return undefined;
  const end = digitsEnd(s, i + 1);
  if (end !== len || end === i + 1 || end - i - 1 > 5) return undefined;
  let port = 0;
  for (let k = i + 1; k < end; k++) port = port * 10 + s.charCodeAt(k) - 48;
  const ip = s.slice(0, i);
  return { address: ip, port: port <= 65_535 ? port : undefined, ip };
}

/** `ip:port`, `[v6]:port`, a bare IP, `tcp://…`, `unix:/path`, or `host:port`. */
export function parseHostPort(text: string): HostPort | undefined {
  let s = text.trim();
  if (!s || s === '-') return undefined;
  // The common case, without the general parse.
  const v4 = parseV4(s);
  if (v4) return v4;
  if (s.startsWith('unix:') || s.startsWith('/')) return { address: s };
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(s);
  if (scheme) s = s.slice(scheme[0].length);
  let host = s;
  let portText: string | undefined;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close === -1) return undefined;
    host = s.slice(1, close);
    const rest = s.slice(close + 1);
    if (rest.startsWith(':')) portText = rest.slice(1);
    else if (rest !== '') return undefined;
  } else {
    const colons = s.split(':').length - 1;
    if (colons === 1) {
      const i = s.indexOf(':');
      host = s.slice(0, i);
      portText = s.slice(i + 1);
    }
  }
  if (!host) return undefined;
  const port = portText === undefined ? undefined : parseCount(portText, 65_535);
  const ip = isIP(host) ? host : undefined;
  return { address: host, ...(port === undefined ? {} : { port }), ...(ip ? { ip } : {}) };
}

/** The IPs of an `X-Forwarded-For` chain; anything that is not an address is left out. */
export function parseForwardedFor(text: string | undefined): string[] | undefined {
  if (!text) return undefined;
  const out: string[] = [];
  for (const part of text.split(',')) {
    const hp = parseHostPort(part);
    if (hp?.ip && out.length < 32) out.push(hp.ip);
  }
  return out.length ? out : undefined;
}

/** nginx lists: `a, b : c` (`, ` between tries, ` : ` between upstream groups), items trimmed. */
export function splitList(text: string | undefined): string[] {
  if (text === undefined) return [];
  const out: string[] = [];
  const n = text.length;
  let from = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    let sep = 0;
    if (c === 44 /* , */ && text.charCodeAt(i + 1) === 32) sep = 2;
    else if (c === 32 && text.charCodeAt(i + 1) === 58 /* : */ && text.charCodeAt(i + 2) === 32) sep = 3;
    if (sep === 0) continue;
    out.push(text.slice(from, i).trim());
    from = i + sep;
    i += sep - 1;
  }
  out.push(from === 0 ? text.trim() : text.slice(from).trim());
  return out;
}

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const METHOD = /^[A-Za-z][A-Za-z_-]{0,15}$/;
const PROTOCOL = /^[A-Za-z0-9/._-]{1,16}$/;

/** JavaScript's `\s`. */
function isSpace(c: number): boolean {
  if (c < 128) return c === 32 || (c >= 9 && c <= 13);
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/**
 * `METHOD target [PROTOCOL]`: two or three non-empty parts split by single
 * spaces, no other whitespace (`/^(\S+) (\S+)(?: (\S+))?$/`, without its match array).
 */
export function splitRequestLine(line: string): [string, string, string | undefined] | undefined {
  const n = line.length;
  let sp1 = -1;
  let sp2 = -1;
  for (let i = 0; i < n; i++) {
    const c = line.charCodeAt(i);
    if (c > 32 && c < 127) continue;
    if (!isSpace(c)) continue;
    if (c !== 32 || sp2 !== -1) return undefined;
    if (sp1 === -1) sp1 = i;
    else sp2 = i;
  }
  if (sp1 < 1 || sp1 === n - 1 || sp2 === sp1 + 1 || sp2 === n - 1) return undefined;
  if (sp2 === -1) return [line.slice(0, sp1), line.slice(sp1 + 1), undefined];
  return [line.slice(0, sp1), line.slice(sp1 + 1, sp2), line.slice(sp2 + 1)];
}

/**
 * Istio cluster names encode the Service: `outbound|<port>|<subset>|<name>.<ns>.svc.<domain>`
 * and `inbound|<port>|<port name>|<name>.<ns>.svc.<domain>` → `ns/name:port`.
 */
export function serviceOfCluster(cluster: string | undefined): string | undefined {
  if (!cluster) return undefined;
  // A proxy's lines name few clusters.
  const cached = recentServices.get(cluster);
  if (cached !== undefined || recentServices.has(cluster)) return cached;
  if (recentServices.size >= 256) recentServices.clear();
  const service = clusterService(cluster);
  recentServices.set(cluster, service);
  return service;
}
const recentServices = new Map<string, string | undefined>();

function clusterService(cluster: string): string | undefined {
  if (!cluster.startsWith('outbound|') && !cluster.startsWith('inbound|')) return undefined;
  const parts = cluster.split('|');
  if (parts.length !== 4 || (parts[0] !== 'outbound' && parts[0] !== 'inbound')) return undefined;
  const port = parseCount(parts[1], 65_535);
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.|$)/.exec(parts[3]!);
  if (port === undefined || !m) return undefined;
  return `${m[3]}/${m[1]}:${port}`;
}

// --- rows --------------------------------------------------------------------------

export interface RowContext {
  readonly recordId: string;
  readonly observedUs: number;
  readonly node: string;
  readonly source: string;
  readonly proxy: string;
  readonly role: string;
  readonly namespace?: string;
  readonly pod?: string;
  readonly podUid?: string;
  readonly container?: string;
  /** The container runtime's timestamp for the line, used when the access line has none. */
  readonly fallbackTimeUs?: number;
  readonly queryHasher: QueryHasher;
}

export type RowResult = { readonly row: HttpRequestRow } | { readonly error: string };

export function buildRow(f: Fields, c: RowContext): RowResult {
  let durUs = durationUs(f.duration_ms, 1000) ?? durationUs(f.duration_s, 1_000_000);
  let endUs = f.end_time !== undefined ? parseTimeUs(f.end_time) : undefined;
  let startUs = f.start_time !== undefined ? parseTimeUs(f.start_time) : undefined;
  if (f.end_time !== undefined && endUs === undefined && f.start_time === undefined)
    return { error: 'unreadable time' };
  if (f.start_time !== undefined && startUs === undefined && endUs === undefined) return { error: 'unreadable time' };
  if (endUs === undefined && startUs !== undefined) endUs = startUs + (durUs ?? 0);
  if (startUs === undefined && endUs !== undefined && durUs !== undefined) startUs = endUs - durUs;
  endUs ??= c.fallbackTimeUs;
  if (endUs === undefined) return { error: 'no time' };
  if (durUs !== undefined && durUs > 86_400_000_000) durUs = undefined;

  // Request line: `METHOD target PROTOCOL`; garbage (TLS on a plain port) leaves all three empty.
  let method = f.method;
  let target = f.target;
  let protocol = f.protocol;
  if (f.request_line !== undefined) {
    const parts = splitRequestLine(f.request_line);
    if (parts) {
      method ??= parts[0];
      target ??= parts[1];
      protocol ??= parts[2];
    }
  }
  let path: string | undefined;
  let query: string | undefined;
  if (target !== undefined) {
    const split = splitTarget(target);
    path = split.path;
    query = split.query;
  } else if (f.path_only !== undefined) {
    path = splitTarget(f.path_only).path;
  }
  if (f.query !== undefined) query ??= f.query;
  const queryHash = c.queryHasher.hash(query);

  let trace: TraceIds = parseTraceparent(f.traceparent);
  if (!trace.traceId) trace = parseB3(f.b3);
  if (!trace.traceId) trace = parseB3Multi(f.b3_trace_id, f.b3_span_id);
  if (!trace.traceId && f.trace_id !== undefined && HEX32.test(f.trace_id.toLowerCase())) {
    const span = f.span_id?.toLowerCase();
    trace = { traceId: f.trace_id.toLowerCase(), ...(span && HEX16.test(span) ? { spanId: span } : {}) };
  }

  const status = parseCount(f.status, 999);
  const remote = f.remote_addr !== undefined ? parseHostPort(f.remote_addr) : undefined;
  const local = f.local_addr !== undefined ? parseHostPort(f.local_addr) : undefined;
  const upLocal = f.up_local !== undefined ? parseHostPort(f.up_local) : undefined;
  let forwardedFor = parseForwardedFor(f.forwarded_for);
  if (!forwardedFor && f.real_ip !== undefined) {
    const real = parseHostPort(f.real_ip)?.ip;
    if (real && real !== remote?.ip) forwardedFor = [real];
  }

  let authority = f.authority;
  if (authority !== undefined) {
    const at = authority.lastIndexOf('@');
    if (at !== -1) authority = authority.slice(at + 1);
  }

  let upstreamService = serviceOfCluster(f.up_cluster);
  const svcPort = f.k8s_service_port;
  if (!upstreamService && f.k8s_namespace && f.k8s_service && svcPort)
    upstreamService = `${f.k8s_namespace}/${f.k8s_service}:${svcPort}`;

  const row: HttpRequestRow = {
    record_id: c.recordId,
    event_time: endUs,
    observed_time: c.observedUs,
    node: c.node,
    source: c.source,
    schema_version: SCHEMA_VERSION,
    start_time: startUs ?? null,
    namespace: c.namespace ?? null,
    pod: c.pod ?? null,
    pod_uid: c.podUid ?? null,
    container: c.container ?? null,
    proxy: c.proxy,
    role: c.role,
    request_id: f.request_id ?? null,
    trace_id: trace.traceId ?? null,
    span_id: trace.spanId ?? null,
    amzn_trace_id: parseAmznTraceId(f.amzn_trace_id) ?? null,
    method: method !== undefined && METHOD.test(method) ? method : null,
    authority: authority || null,
    path: path || null,
    query_hash: queryHash ?? null,
    protocol: protocol !== undefined && PROTOCOL.test(protocol) ? protocol : null,
    status: status ?? null,
    grpc_status: parseCount(f.grpc_status, 1000) ?? null,
    duration_us: durUs ?? null,
    downstream_remote_ip: remote?.ip ?? null,
    downstream_remote_port: remote?.port ?? parseCount(f.remote_port, 65_535) ?? null,
    downstream_local_ip: local?.ip ?? null,
    downstream_local_port: local?.port ?? parseCount(f.local_port, 65_535) ?? null,
    forwarded_for: forwardedFor ?? [],
    upstream_attempts: attempts(f, status),
    upstream_cluster: f.up_cluster ?? null,
    upstream_alternative: f.up_alternative ?? null,
    upstream_service: upstreamService ?? null,
    upstream_local_ip: upLocal?.ip ?? null,
    upstream_local_port: upLocal?.ip ? (upLocal.port ?? null) : null,
    response_flags: f.response_flags ?? null,
    response_code_details: f.response_code_details ?? null,
    bytes_received: parseCount(f.bytes_received) ?? null,
    bytes_sent: parseCount(f.bytes_sent) ?? parseCount(f.body_bytes_sent) ?? null,
    user_agent: f.user_agent ?? null,
    route_name: f.route_name ?? (f.k8s_namespace && f.k8s_ingress ? `${f.k8s_namespace}/${f.k8s_ingress}` : null),
  };
  return { row };
}

function attempts(f: Fields, status: number | undefined): UpstreamAttempt[] {
  const out: UpstreamAttempt[] = [];
  if (f.up_addr !== undefined) {
    // nginx: parallel lists, one element per try; `-` where a value is unknown.
    const statuses = splitList(f.up_status);
    const times = splitList(f.up_time_s);
    const lengths = splitList(f.up_length);
    const addrs = splitList(f.up_addr);
    for (let i = 0; i < addrs.length && out.length < 64; i++) {
      const hp = parseHostPort(addrs[i]!);
      if (!hp) continue;
      out.push({
        address: hp.address,
        port: hp.port ?? null,
        status: parseCount(statuses[i], 999) ?? null,
        duration_us: durationUs(times[i], 1_000_000) ?? null,
        bytes_received: parseCount(lengths[i]) ?? null,
      });
    }
  } else if (f.up_host !== undefined) {
    // Envoy: the host of the last try; its status is the response's only when it came from the upstream.
    const hp = parseHostPort(f.up_host);
    if (hp)
      out.push({
        address: hp.address,
        port: hp.port ?? null,
        status: f.response_code_details === 'via_upstream' ? (status ?? null) : null,
        duration_us: durationUs(f.up_service_time_ms, 1000) ?? null,
        bytes_received: null,
      });
  }
  return out;
}

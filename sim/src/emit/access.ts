// Proxy access-log lines in the formats the proxies write by default:
// ingress-nginx `upstreaminfo`, Istio's text format (sidecars), and Envoy
// Gateway's JSON format. Times are the node's clock (true time + skew).
import type { EnvoyRecord, NginxRecord } from '../observations.ts';
import { isoMs, nginxTimeLocal, seconds3 } from '../time.ts';

const dash = (v: string | number | undefined | null) => (v === undefined || v === null || v === '' ? '-' : String(v));

/** ingress-nginx default `log-format-upstream`. */
export function nginxLine(r: NginxRecord, skewUs: number): string {
  const list = (xs: readonly string[]) => (xs.length ? xs.join(', ') : '-');
  const addrs = list(r.tries.map((t) => `${t.address}:${t.port}`));
  const lengths = list(r.tries.map((t) => dash(t.bytes)));
  const times = list(r.tries.map((t) => seconds3(t.timeUs)));
  const statuses = list(r.tries.map((t) => dash(t.status)));
  return (
    `${r.remoteAddr} - - [${nginxTimeLocal(r.endUs + skewUs)}] "${escapeNginx(`${r.method} ${r.target} ${r.protocol}`)}" ` +
    `${r.status} ${r.bodyBytesSent} "-" "${escapeNginx(r.userAgent)}" ${r.requestLength} ${seconds3(r.requestTimeUs)} ` +
    `[${r.upstreamName}] [] ${addrs} ${lengths} ${times} ${statuses} ${r.reqId}`
  );
}

/** nginx's default escaping: `"`, `\` and bytes outside printable ASCII as `\xHH`. */
function escapeNginx(s: string): string {
  if (/^[ !#-[\]-~]*$/.test(s)) return s;
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const plain = b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c;
    out += plain ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0').toUpperCase()}`;
  }
  return out;
}

/** Istio's default TEXT access-log format (≥ 1.9). */
export function istioLine(r: EnvoyRecord, skewUs: number): string {
  const ms = (us: number | undefined) => (us === undefined ? '-' : String(Math.floor(us / 1000)));
  return (
    `[${isoMs(r.startUs + skewUs)}] "${r.method} ${r.target} ${r.protocol}" ${r.status} ${r.flags} ${r.details} - "-" ` +
    `${r.bytesReceived} ${r.bytesSent} ${ms(r.durationUs)} ${ms(r.upstreamServiceTimeUs)} "${dash(r.forwardedFor)}" ` +
    `"${dash(r.userAgent)}" "${dash(r.requestId)}" "${dash(r.authority)}" "${dash(r.upstreamHost)}" ` +
    `${dash(r.upstreamCluster)} ${dash(r.upstreamLocal)} ${r.downstreamLocal} ${r.downstreamRemote} ${dash(r.serverName)} ${dash(r.routeName)}`
  );
}

/** Envoy Gateway's default JSON access log: typed values, null when unset, keys sorted as Envoy emits them. */
export function gatewayLine(r: EnvoyRecord, skewUs: number): string {
  const rec: Record<string, string | number | null> = {
    ':authority': r.authority,
    bytes_received: r.bytesReceived,
    bytes_sent: r.bytesSent,
    connection_termination_details: null,
    downstream_local_address: r.downstreamLocal,
    downstream_remote_address: r.downstreamRemote,
    duration: Math.floor(r.durationUs / 1000),
    method: r.method,
    protocol: r.protocol,
    requested_server_name: r.serverName ?? null,
    response_code: r.status,
    response_code_details: r.details,
    response_flags: r.flags,
    route_name: r.routeName ?? null,
    start_time: isoMs(r.startUs + skewUs),
    upstream_cluster: r.upstreamCluster,
    upstream_host: r.upstreamHost ?? null,
    upstream_local_address: r.upstreamLocal ?? null,
    upstream_transport_failure_reason: null,
    'user-agent': r.userAgent,
    'x-envoy-origin-path': r.target,
    'x-envoy-upstream-service-time':
      r.upstreamServiceTimeUs === undefined ? null : String(Math.floor(r.upstreamServiceTimeUs / 1000)),
    'x-forwarded-for': r.forwardedFor ?? null,
    'x-request-id': r.requestId ?? null,
  };
  return JSON.stringify(rec);
}

/** The line a record's container writes. */
export function accessLine(r: NginxRecord | EnvoyRecord, skewUs: number): string {
  if (r.kind === 'nginx') return nginxLine(r, skewUs);
  return r.format === 'gateway' ? gatewayLine(r, skewUs) : istioLine(r, skewUs);
}

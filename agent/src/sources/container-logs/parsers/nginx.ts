// ingress-nginx controller logs. Access lines come in the controller's
// `upstreaminfo` format (and the older variants still deployed), in a
// customised `log-format-upstream` given in the config, or as JSON in any of
// nginx's three escape modes. The same container writes nginx error lines,
// the controller's klog lines and stream (TCP/UDP) access lines: those are
// recognised and skipped.

import type { FieldName, Fields } from './fields.ts';
import { type CompiledFormat, compileFormat, FormatSet, type PlaceholderKind } from './format.ts';
import { type JsonAccess, jsonAccess, type ParseOutcome } from './outcome.ts';

/** nginx variables the contract has a column for, and the field each feeds. */
export const NGINX_VARIABLES: Readonly<Record<string, FieldName>> = {
  remote_addr: 'remote_addr',
  remote_port: 'remote_port',
  the_real_ip: 'real_ip',
  proxy_protocol_addr: 'real_ip',
  realip_remote_addr: 'real_ip',
  time_local: 'end_time',
  time_iso8601: 'end_time',
  msec: 'end_time',
  request: 'request_line',
  request_method: 'method',
  request_uri: 'target',
  uri: 'path_only',
  document_uri: 'path_only',
  args: 'query',
  query_string: 'query',
  server_protocol: 'protocol',
  status: 'status',
  body_bytes_sent: 'body_bytes_sent',
  bytes_sent: 'bytes_sent',
  request_length: 'bytes_received',
  request_time: 'duration_s',
  http_user_agent: 'user_agent',
  host: 'authority',
  http_host: 'authority',
  server_addr: 'local_addr',
  server_port: 'local_port',
  http_x_forwarded_for: 'forwarded_for',
  proxy_add_x_forwarded_for: 'forwarded_for',
  proxy_upstream_name: 'up_cluster',
  proxy_alternative_upstream_name: 'up_alternative',
  upstream_addr: 'up_addr',
  upstream_status: 'up_status',
  upstream_response_time: 'up_time_s',
  upstream_response_length: 'up_length',
  req_id: 'request_id',
  request_id: 'request_id',
  http_x_request_id: 'request_id',
  namespace: 'k8s_namespace',
  service_name: 'k8s_service',
  service_port: 'k8s_service_port',
  ingress_name: 'k8s_ingress',
  http_traceparent: 'traceparent',
  http_b3: 'b3',
  http_x_b3_traceid: 'b3_trace_id',
  http_x_b3_spanid: 'b3_span_id',
  http_x_amzn_trace_id: 'amzn_trace_id',
  opentelemetry_trace_id: 'trace_id',
  opentelemetry_span_id: 'span_id',
  otel_trace_id: 'trace_id',
  otel_span_id: 'span_id',
  sent_trailer_grpc_status: 'grpc_status',
  sent_http_grpc_status: 'grpc_status',
  upstream_trailer_grpc_status: 'grpc_status',
};

const LIST_VARIABLES = new Set([
  'upstream_addr',
  'upstream_status',
  'upstream_response_time',
  'upstream_response_length',
  'upstream_connect_time',
  'upstream_header_time',
  'upstream_bytes_received',
  'upstream_bytes_sent',
  'upstream_cache_status',
]);
const NUMBER_VARIABLES = new Set([
  'status',
  'body_bytes_sent',
  'bytes_sent',
  'request_length',
  'request_time',
  'msec',
  'remote_port',
  'server_port',
  'connection',
  'connection_requests',
]);

/** JSON keys (lowercase, without `_`, `-`, `.`, `@`) as controllers commonly name them. */
export const NGINX_JSON_KEYS: Readonly<Record<string, FieldName>> = {
  time: 'end_time',
  timestamp: 'end_time',
  timeiso8601: 'end_time',
  timelocal: 'end_time',
  msec: 'end_time',
  datetime: 'end_time',
  remoteaddr: 'remote_addr',
  remoteip: 'remote_addr',
  clientip: 'remote_addr',
  remoteport: 'remote_port',
  realip: 'real_ip',
  therealip: 'real_ip',
  xforwardedfor: 'forwarded_for',
  httpxforwardedfor: 'forwarded_for',
  proxyaddxforwardedfor: 'forwarded_for',
  forwardedfor: 'forwarded_for',
  requestid: 'request_id',
  reqid: 'request_id',
  xrequestid: 'request_id',
  httpxrequestid: 'request_id',
  status: 'status',
  statuscode: 'status',
  responsecode: 'status',
  bytessent: 'bytes_sent',
  bodybytessent: 'body_bytes_sent',
  responsesize: 'body_bytes_sent',
  requestlength: 'bytes_received',
  requestsize: 'bytes_received',
  bytesreceived: 'bytes_received',
  requesttime: 'duration_s',
  latency: 'duration_s',
  duration: 'duration_s',
  method: 'method',
  requestmethod: 'method',
  httpmethod: 'method',
  path: 'path_only',
  uri: 'path_only',
  documenturi: 'path_only',
  requesturi: 'target',
  requesturl: 'target',
  url: 'target',
  requestquery: 'query',
  args: 'query',
  querystring: 'query',
  query: 'query',
  request: 'request_line',
  requestproto: 'protocol',
  serverprotocol: 'protocol',
  protocol: 'protocol',
  httpversion: 'protocol',
  vhost: 'authority',
  host: 'authority',
  httphost: 'authority',
  authority: 'authority',
  httpuseragent: 'user_agent',
  useragent: 'user_agent',
  upstreamaddr: 'up_addr',
  upstreamaddress: 'up_addr',
  upstreamstatus: 'up_status',
  upstreamresponsetime: 'up_time_s',
  upstreamresponselength: 'up_length',
  proxyupstreamname: 'up_cluster',
  upstreamname: 'up_cluster',
  proxyalternativeupstreamname: 'up_alternative',
  alternativeupstreamname: 'up_alternative',
  namespace: 'k8s_namespace',
  servicename: 'k8s_service',
  serviceport: 'k8s_service_port',
  ingressname: 'k8s_ingress',
  serveraddr: 'local_addr',
  serverport: 'local_port',
  traceparent: 'traceparent',
  httptraceparent: 'traceparent',
  b3: 'b3',
  httpb3: 'b3',
  xb3traceid: 'b3_trace_id',
  httpxb3traceid: 'b3_trace_id',
  xb3spanid: 'b3_span_id',
  httpxb3spanid: 'b3_span_id',
  xamzntraceid: 'amzn_trace_id',
  httpxamzntraceid: 'amzn_trace_id',
  traceid: 'trace_id',
  oteltraceid: 'trace_id',
  opentelemetrytraceid: 'trace_id',
  spanid: 'span_id',
  otelspanid: 'span_id',
  opentelemetryspanid: 'span_id',
  grpcstatus: 'grpc_status',
};

/**
 * The controller's default `log-format-upstream` (`upstreaminfo`) and the
 * variants older controllers wrote: with `[$the_real_ip]`, without the
 * canary upstream name, without `$req_id`.
 */
export function upstreaminfoFormats(): string[] {
  const out: string[] = [];
  for (const realIp of [false, true])
    for (const alt of [true, false])
      for (const reqId of [true, false])
        out.push(
          `$remote_addr - ${realIp ? '[$the_real_ip] - ' : ''}$remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_length $request_time [$proxy_upstream_name] ${alt ? '[$proxy_alternative_upstream_name] ' : ''}$upstream_addr $upstream_response_length $upstream_response_time $upstream_status${reqId ? ' $req_id' : ''}`,
        );
  return out;
}

const NGINX_TOKEN = /\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/;

export function compileNginxFormat(format: string): CompiledFormat {
  return compileFormat(
    format,
    NGINX_TOKEN,
    (m) => {
      const name = (m[1] ?? m[2])!;
      const kind: PlaceholderKind = LIST_VARIABLES.has(name) ? 'list' : NUMBER_VARIABLES.has(name) ? 'number' : 'plain';
      return { token: m[0], field: NGINX_VARIABLES[name], kind };
    },
    true,
  );
}

/** A JSON `log-format-upstream` template: which key path holds which variable. */
export function nginxJsonTemplate(template: string): Map<string, FieldName> | undefined {
  // Unquoted numeric variables make the template itself invalid JSON: quote them to read it.
  const quoted = template.replace(/:\s*(\$[A-Za-z0-9_{}]+)/g, ': "$1"');
  let parsed: unknown;
  try {
    parsed = JSON.parse(quoted);
  } catch {
    return undefined;
  }
  const out = new Map<string, FieldName>();
  const walk = (v: unknown, path: string) => {
    if (typeof v === 'string') {
      const m = /^\$\{?([A-Za-z0-9_]+)\}?$/.exec(v.trim());
      const field = m ? NGINX_VARIABLES[m[1]!] : undefined;
      if (field) out.set(path, field);
    } else if (v && typeof v === 'object' && !Array.isArray(v))
      for (const [k, child] of Object.entries(v)) walk(child, path ? `${path}.${k}` : k);
  };
  walk(parsed, '');
  return out;
}

const KLOG = /^[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d{6}\s/;
const NGINX_ERROR = /^\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2} \[[a-z]+\] /;
const STREAM_ACCESS = /^\[[^\]]*\] \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] (TCP|UDP) /;
const ACCESS_SIGNATURE = /\[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\]|"[A-Z]{3,10} \S+ HTTP\/\d/;

export class NginxParser {
  readonly proxy = 'ingress-nginx';
  private readonly text: FormatSet;
  private readonly json: JsonAccess;

  /** `format`: a custom `log-format-upstream` (text, or a JSON template); built-in formats otherwise. */
  constructor(format?: string) {
    const custom = format?.trim();
    if (custom?.startsWith('{')) {
      const template = nginxJsonTemplate(custom);
      if (!template) throw new Error('log_format looks like a JSON template but cannot be read');
      this.json = jsonAccess(NGINX_JSON_KEYS, template);
      this.text = new FormatSet([]);
    } else {
      this.json = jsonAccess(NGINX_JSON_KEYS);
      this.text = new FormatSet((custom ? [custom] : upstreaminfoFormats()).map(compileNginxFormat));
    }
  }

  parse(line: string): ParseOutcome {
    if (line.charCodeAt(0) === 123 /* { */) return this.json(line);
    const fields: Fields = {};
    if (this.text.match(line, fields)) return { kind: 'access', fields };
    if (KLOG.test(line)) return { kind: 'skip', what: 'klog' };
    if (NGINX_ERROR.test(line)) return { kind: 'skip', what: 'nginx_error' };
    if (STREAM_ACCESS.test(line)) return { kind: 'skip', what: 'stream' };
    if (this.text.match(line, fields, true)) return { kind: 'access', fields };
    if (ACCESS_SIGNATURE.test(line)) return { kind: 'malformed', reason: 'does not match the access log format' };
    return { kind: 'skip', what: 'other' };
  }
}

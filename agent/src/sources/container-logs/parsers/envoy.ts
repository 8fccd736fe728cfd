// Envoy and Istio access logs: Envoy's default text format, Istio's text
// formats (≥1.9 and the older ones without RESPONSE_CODE_DETAILS), Istio's
// JSON encoding, or a custom format string. The istio-proxy container also
// writes Envoy's own log lines and pilot-agent lines: recognised and skipped.
// TCP proxy records (`"- - -"`) are connections, not requests, and skipped.

import type { FieldName, Fields } from './fields.ts';
import { type CompiledFormat, compileFormat, FormatSet, type PlaceholderKind } from './format.ts';
import { type JsonAccess, jsonAccess, type ParseOutcome } from './outcome.ts';

/** Envoy command operators the contract has a column for (names normalised, see `operatorName`). */
export const ENVOY_OPERATORS: Readonly<Record<string, FieldName>> = {
  START_TIME: 'start_time',
  'REQ(:METHOD)': 'method',
  'REQ(X-ENVOY-ORIGINAL-PATH?:PATH)': 'target',
  'REQ(:PATH)': 'target',
  'REQ(X-ENVOY-ORIGINAL-PATH)': 'target',
  PROTOCOL: 'protocol',
  RESPONSE_CODE: 'status',
  RESPONSE_FLAGS: 'response_flags',
  RESPONSE_CODE_DETAILS: 'response_code_details',
  BYTES_RECEIVED: 'bytes_received',
  BYTES_SENT: 'bytes_sent',
  DURATION: 'duration_ms',
  'RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)': 'up_service_time_ms',
  'REQ(X-FORWARDED-FOR)': 'forwarded_for',
  'REQ(USER-AGENT)': 'user_agent',
  'REQ(X-REQUEST-ID)': 'request_id',
  'REQ(:AUTHORITY)': 'authority',
  'REQ(HOST)': 'authority',
  UPSTREAM_HOST: 'up_host',
  UPSTREAM_CLUSTER: 'up_cluster',
  UPSTREAM_CLUSTER_RAW: 'up_cluster',
  UPSTREAM_LOCAL_ADDRESS: 'up_local',
  DOWNSTREAM_LOCAL_ADDRESS: 'local_addr',
  DOWNSTREAM_REMOTE_ADDRESS: 'remote_addr',
  ROUTE_NAME: 'route_name',
  'REQ(TRACEPARENT)': 'traceparent',
  'REQ(B3)': 'b3',
  'REQ(X-B3-TRACEID)': 'b3_trace_id',
  'REQ(X-B3-SPANID)': 'b3_span_id',
  'REQ(X-AMZN-TRACE-ID)': 'amzn_trace_id',
  GRPC_STATUS_NUMBER: 'grpc_status',
  'GRPC_STATUS(NUMBER)': 'grpc_status',
  'RESP(GRPC-STATUS)': 'grpc_status',
  'TRAILER(GRPC-STATUS)': 'grpc_status',
};

const NUMBER_OPERATORS = new Set([
  'RESPONSE_CODE',
  'BYTES_RECEIVED',
  'BYTES_SENT',
  'DURATION',
  'REQUEST_DURATION',
  'RESPONSE_DURATION',
  'RESPONSE_TX_DURATION',
  'RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)',
]);

/**
 * Istio's JSON keys (`meshConfig.accessLogEncoding: JSON`), Envoy Gateway's default JSON
 * keys and common variants, normalised. Envoy Gateway names its path key
 * `x-envoy-origin-path` (it holds `%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%`, query included).
 */
export const ENVOY_JSON_KEYS: Readonly<Record<string, FieldName>> = {
  starttime: 'start_time',
  timestamp: 'start_time',
  method: 'method',
  path: 'target',
  originalpath: 'target',
  xenvoyoriginpath: 'target',
  xenvoyoriginalpath: 'target',
  protocol: 'protocol',
  responsecode: 'status',
  status: 'status',
  responseflags: 'response_flags',
  responsecodedetails: 'response_code_details',
  bytesreceived: 'bytes_received',
  bytessent: 'bytes_sent',
  duration: 'duration_ms',
  upstreamservicetime: 'up_service_time_ms',
  xenvoyupstreamservicetime: 'up_service_time_ms',
  xforwardedfor: 'forwarded_for',
  useragent: 'user_agent',
  requestid: 'request_id',
  xrequestid: 'request_id',
  authority: 'authority',
  upstreamhost: 'up_host',
  upstreamcluster: 'up_cluster',
  upstreamlocaladdress: 'up_local',
  downstreamlocaladdress: 'local_addr',
  downstreamremoteaddress: 'remote_addr',
  routename: 'route_name',
  traceparent: 'traceparent',
  b3: 'b3',
  xb3traceid: 'b3_trace_id',
  xb3spanid: 'b3_span_id',
  xamzntraceid: 'amzn_trace_id',
  traceid: 'trace_id',
  spanid: 'span_id',
  grpcstatus: 'grpc_status',
};

const HEAD =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS%';
const MIDDLE =
  '%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"';

export const ENVOY_FORMATS = {
  /** Istio ≥ 1.9 default (`EnvoyTextLogFormat`). */
  istio: `${HEAD} %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" ${MIDDLE} %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%`,
  /** Envoy's default format. */
  envoy: `${HEAD} ${MIDDLE}`,
  /** Istio 1.1 – 1.4 (mixer status, no details). */
  istio11: `${HEAD} "%DYNAMIC_METADATA(istio.mixer:status)%" ${MIDDLE} %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME%`,
  /** Istio 1.5 – 1.8 (transport failure reason and route name added). */
  istio15: `${HEAD} "%DYNAMIC_METADATA(istio.mixer:status)%" "%UPSTREAM_TRANSPORT_FAILURE_REASON%" ${MIDDLE} %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%`,
} as const;

// `%NAME%`, `%NAME(args)%`, `%NAME(args):N%`; `%%` is a literal percent sign.
const ENVOY_TOKEN = /%([A-Z][A-Z0-9_]*)(\([^)]*\))?(?::\d+)?%/;

/** `REQUEST_HEADER(x-request-id)` → `REQ(X-REQUEST-ID)`. */
export function operatorName(name: string, args: string | undefined): string {
  const alias: Record<string, string> = { REQUEST_HEADER: 'REQ', RESPONSE_HEADER: 'RESP', RESPONSE_TRAILER: 'TRAILER' };
  const n = alias[name] ?? name;
  return args ? `${n}${args.toUpperCase()}` : n;
}

export function compileEnvoyFormat(format: string): CompiledFormat {
  return compileFormat(
    format.replace(/\n$/, ''),
    ENVOY_TOKEN,
    (m) => {
      const op = operatorName(m[1]!, m[2]);
      const kind: PlaceholderKind = NUMBER_OPERATORS.has(op) ? 'number' : 'plain';
      return { token: m[0], field: ENVOY_OPERATORS[op], kind };
    },
    false,
  );
}

/** A JSON format (`json_format` as JSON text): which key path holds which operator. */
export function envoyJsonTemplate(template: string): Map<string, FieldName> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(template);
  } catch {
    return undefined;
  }
  const out = new Map<string, FieldName>();
  const walk = (v: unknown, path: string) => {
    if (typeof v === 'string') {
      const m = new RegExp(`^${ENVOY_TOKEN.source}$`).exec(v.trim());
      const field = m ? ENVOY_OPERATORS[operatorName(m[1]!, m[2])] : undefined;
      if (field) out.set(path, field);
    } else if (v && typeof v === 'object' && !Array.isArray(v))
      for (const [k, child] of Object.entries(v)) walk(child, path ? `${path}.${k}` : k);
  };
  walk(parsed, '');
  return out;
}

const ENVOY_APP = /^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}\]\[/;
const ISTIO_AGENT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z\s+(debug|info|warn|warning|error|fatal)\s/;
const KLOG = /^[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d{6}\s/;
const ACCESS_SIGNATURE = /^\[\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}|"[A-Z]{3,10} \S+ HTTP\/\d/;

export class EnvoyParser {
  readonly proxy = 'envoy';
  private readonly text: FormatSet;
  private readonly json: JsonAccess;

  /** `format`: a custom text format, or a JSON format object as JSON text; built-in formats otherwise. */
  constructor(format?: string) {
    const custom = format?.trim();
    if (custom?.startsWith('{')) {
      const template = envoyJsonTemplate(custom);
      if (!template) throw new Error('log_format looks like a JSON format but is not valid JSON');
      this.json = jsonAccess(ENVOY_JSON_KEYS, template);
      this.text = new FormatSet([]);
    } else {
      this.json = jsonAccess(ENVOY_JSON_KEYS);
      const formats = custom ? [custom] : Object.values(ENVOY_FORMATS);
      this.text = new FormatSet(formats.map(compileEnvoyFormat));
    }
  }

  parse(line: string): ParseOutcome {
    if (line.charCodeAt(0) === 123 /* { */) return tcpOrAccess(this.json(line));
    const fields: Fields = {};
    if (this.text.match(line, fields)) return tcpOrAccess({ kind: 'access', fields });
    if (ENVOY_APP.test(line)) return { kind: 'skip', what: 'envoy_app' };
    if (ISTIO_AGENT.test(line)) return { kind: 'skip', what: 'istio_agent' };
    if (KLOG.test(line)) return { kind: 'skip', what: 'klog' };
    if (this.text.match(line, fields, true)) return tcpOrAccess({ kind: 'access', fields });
    if (ACCESS_SIGNATURE.test(line)) return { kind: 'malformed', reason: 'does not match the access log format' };
    return { kind: 'skip', what: 'other' };
  }
}

/** TCP proxy records log `- - -` for method, path and protocol. */
function tcpOrAccess(outcome: ParseOutcome): ParseOutcome {
  if (outcome.kind !== 'access') return outcome;
  const f = outcome.fields;
  if (f.method === undefined && f.target === undefined && f.protocol === undefined)
    return { kind: 'skip', what: 'tcp' };
  return outcome;
}

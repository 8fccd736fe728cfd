// Access-log lines written for these tests, one per format and edge case,
// and helpers that lay them out as a node's container log files.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const NGINX = {
  /** Controller default `upstreaminfo`: one upstream. */
  upstreaminfo:
    '203.0.113.7 - - [25/Nov/2026:07:00:01 +0000] "GET /shop/cart?session=abc HTTP/1.1" 200 512 "https://shop.example.com/" "Mozilla/5.0 (X11; Linux x86_64)" 420 0.012 [shop-cart-8080] [] 10.244.1.17:8080 512 0.011 200 7f3c2a9b4d5e6f708192a3b4c5d6e7f8',
  /** Retries across upstream groups: `, ` between tries and ` : ` between groups, `-` where unknown. */
  retries:
    '203.0.113.7 - - [25/Nov/2026:07:00:02 +0100] "POST /api/orders HTTP/2.0" 502 150 "-" "curl/8.5.0" 300 3.004 [shop-orders-http] [shop-orders-canary-http] 10.244.1.20:8080, 10.244.2.21:8080 : 10.96.0.50:80 0, - : 150 1.001, 2.001 : 0.002 502, 504 : 502 req-42',
  /** IPv6 client and upstream, a unix socket upstream. */
  ipv6: '2001:db8::7 - - [25/Nov/2026:07:00:03 +0000] "GET / HTTP/1.1" 200 5 "-" "-" 80 0.000 [php-fpm-9000] [] [2001:db8::42]:9000, unix:/run/php/fpm.sock 5, 5 0.000, 0.000 200, 200 0123456789abcdef0123456789abcdef',
  /** A TLS handshake sent to the plain port: no method, path or protocol. */
  garbage:
    '198.51.100.9 - - [25/Nov/2026:07:00:04 +0000] "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03" 400 150 "-" "-" 0 0.001 [] [] - - - - 00000000000000000000000000000abc',
  /** Older controllers: `[$the_real_ip]`, no canary upstream name. */
  legacyRealIp:
    '10.0.0.1 - [198.51.100.23] - - [25/Nov/2026:07:00:05 +0000] "GET /health HTTP/1.1" 200 2 "-" "kube-probe/1.30" 120 0.001 [default-web-80] 10.244.3.4:80 2 0.001 200 legacy-req-1',
  /** Older still: no `$req_id`. */
  legacyNoReqId:
    '10.0.0.1 - - [25/Nov/2026:07:00:06 +0000] "GET /health HTTP/1.1" 200 2 "-" "kube-probe/1.30" 120 0.001 [default-web-80] 10.244.3.4:80 2 0.001 200',
  /** Quotes inside values, escaped the nginx default way. */
  escaped:
    '203.0.113.8 - - [25/Nov/2026:07:00:07 +0000] "GET /q HTTP/1.1" 200 1 "-" "agent \\x22quoted\\x22 \\xE2\\x82\\xAC" 90 0.002 [a-b-80] [] 10.244.0.9:80 1 0.002 200 esc-1',
} as const;

/** A customised `log-format-upstream` with the controller's Kubernetes variables and trace context. */
export const NGINX_CUSTOM_FORMAT =
  '$remote_addr:$remote_port [$time_iso8601] $request_method $host "$request_uri" $status $bytes_sent $request_length $request_time $namespace/$ingress_name $service_name:$service_port $upstream_addr $upstream_status $upstream_response_time $req_id "$http_traceparent" "$http_x_amzn_trace_id"';
export const NGINX_CUSTOM_LINE =
  '203.0.113.9:51234 [2026-11-25T07:00:08+00:00] GET api.example.com "/v1/items?id=7" 201 99 310 0.050 shop/api-ingress api:8080 10.244.1.5:8080 201 0.049 custom-req-1 "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"';

/** The same record as JSON under nginx's three escape modes. */
export const NGINX_JSON = {
  json: '{"time": "2026-11-25T07:00:09+00:00", "remote_addr": "203.0.113.10", "x_forwarded_for": "198.51.100.1, 10.0.0.2", "request_id": "json-req-1", "bytes_sent": 120, "request_time": 0.004, "status": 204, "vhost": "a.example.com", "request_proto": "HTTP/1.1", "path": "/a", "request_query": "k=v", "request_length": 77, "method": "DELETE", "http_user_agent": "say \\"hi\\""}',
  default:
    '{"time": "2026-11-25T07:00:10+00:00", "remote_addr": "203.0.113.10", "request_id": "json-req-2", "bytes_sent": -, "request_time": 0.004, "status": 499, "vhost": "a.example.com", "path": "/b", "method": "GET", "http_user_agent": "say \\x22hi\\x22 \\xE2\\x82\\xAC"}',
  none: '{"time": "2026-11-25T07:00:11+00:00", "remote_addr": "203.0.113.10", "request_id": "json-req-3", "bytes_sent": 5, "request_time": 0.004, "status": 200, "vhost": "a.example.com", "path": "/c", "method": "GET", "http_user_agent": "say "hi" raw"}',
  /** A widely used nested layout. */
  nested:
    '{"timestamp": "2026-11-25T07:00:12Z", "requestID": "json-req-4", "proxyUpstreamName": "shop-cart-8080", "upstreamStatus": "200", "upstreamAddr": "10.244.1.17:8080", "httpRequest": {"requestMethod": "PUT", "requestUrl": "/cart/1?x=1", "status": 200, "responseSize": "10", "userAgent": "ua", "remoteIp": "203.0.113.11", "latency": "0.020s", "protocol": "HTTP/1.1"}}',
} as const;

export const NGINX_NON_ACCESS = {
  klog: 'I1125 07:00:00.123456       7 controller.go:210] "Backend successfully reloaded"',
  error:
    '2026/11/25 07:00:00 [error] 31#31: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 203.0.113.7, server: shop.example.com',
  stream: '[203.0.113.7] [25/Nov/2026:07:00:00 +0000] TCP 200 1024 2048 1.500',
  banner: '-------------------------------------------------------------------------------',
} as const;

/** An access line cut short (a truncated write): recognisable, not parseable. */
export const NGINX_MALFORMED =
  '203.0.113.7 - - [25/Nov/2026:07:00:13 +0000] "GET /shop/cart HTTP/1.1" 200 512 "https://shop.example.com/" "Mozi';

export const ENVOY = {
  /** Istio ≥ 1.9, client side (outbound). */
  outbound:
    '[2026-11-25T07:00:20.100Z] "GET /reviews/1?user=bob HTTP/1.1" 200 - via_upstream - "-" 0 295 12 10 "-" "Go-http-client/1.1" "0b7c8f1e-4a2b-9c3d-8e7f-1a2b3c4d5e6f" "reviews:9080" "10.244.2.8:9080" outbound|9080||reviews.bookinfo.svc.cluster.local 10.244.1.9:41234 10.96.14.3:9080 10.244.1.9:52110 - default',
  /** Istio ≥ 1.9, server side (inbound). */
  inbound:
    '[2026-11-25T07:00:20.104Z] "GET /reviews/1?user=bob HTTP/1.1" 200 - via_upstream - "-" 0 295 8 7 "-" "Go-http-client/1.1" "0b7c8f1e-4a2b-9c3d-8e7f-1a2b3c4d5e6f" "reviews:9080" "10.244.2.8:9080" inbound|9080|| 127.0.0.6:40111 10.244.2.8:9080 10.244.1.9:41234 outbound_.9080_._.reviews.bookinfo.svc.cluster.local default',
  /** A failed upstream: flags and details, no upstream host. */
  failed:
    '[2026-11-25T07:00:21.000Z] "POST /pay HTTP/2" 503 UF,URX upstream_reset_before_response_started{connection_failure} - "delayed_connect_error:_111" 120 91 30 - "203.0.113.5" "grpc-go/1.60" "a1b2" "payments:8443" "-" outbound|8443||payments.money.svc.cluster.local - 10.96.20.1:8443 10.244.1.9:52111 - -',
  /** Envoy's own default format. */
  envoyDefault:
    '[2026-11-25T07:00:22.000Z] "GET /static/app.js HTTP/1.1" 304 - 0 0 3 2 "198.51.100.7,10.0.0.1" "Mozilla/5.0" "c0ffee00-0000-4000-8000-000000000001" "www.example.com" "10.244.5.5:8080"',
  /** Istio 1.1 era (mixer status, no details). */
  istio11:
    '[2026-11-25T07:00:23.000Z] "GET /ratings/0 HTTP/1.1" 200 - "-" 0 48 4 3 "-" "curl/7.60.0" "r-istio11" "ratings:9080" "10.244.6.6:9080" outbound|9080||ratings.default.svc.cluster.local - 10.96.0.99:9080 10.244.6.7:50000 -',
  /** Istio 1.5 – 1.8. */
  istio15:
    '[2026-11-25T07:00:24.000Z] "GET /ratings/1 HTTP/1.1" 200 - "-" "-" 0 48 4 3 "-" "curl/7.60.0" "r-istio15" "ratings:9080" "10.244.6.6:9080" outbound|9080||ratings.default.svc.cluster.local 10.244.6.7:40000 10.96.0.99:9080 10.244.6.7:50001 - default',
  /** TCP proxying: a connection, not a request. */
  tcp: '[2026-11-25T07:00:25.000Z] "- - -" 0 - - - "-" 1024 2048 1500 - "-" "-" "-" "-" "10.244.7.7:5432" outbound|5432||db.data.svc.cluster.local 10.244.1.9:40001 10.96.5.5:5432 10.244.1.9:50002 - -',
} as const;

/** Istio JSON encoding: `null` and `"-"` both mean unset. */
export const ENVOY_JSON =
  '{"authority":"details:9080","bytes_received":0,"bytes_sent":178,"connection_termination_details":null,"downstream_local_address":"10.244.3.3:9080","downstream_remote_address":"10.244.1.9:33333","duration":5,"method":"GET","path":"/details/0?secret=1","protocol":"HTTP/1.1","request_id":"json-envoy-1","requested_server_name":"-","response_code":200,"response_code_details":"via_upstream","response_flags":"-","route_name":"default","start_time":"2026-11-25T07:00:26.123Z","upstream_cluster":"inbound|9080||","upstream_host":"10.244.3.3:9080","upstream_local_address":"127.0.0.6:45555","upstream_service_time":"4","upstream_transport_failure_reason":null,"user_agent":"curl","x_forwarded_for":null}';

/**
 * Envoy Gateway's default JSON access log (keys of its default `json_format`, sorted as Envoy
 * writes them; typed values, null when unset). The path is under `x-envoy-origin-path`.
 */
export const ENVOY_GATEWAY_JSON =
  '{":authority":"shop.example.com","bytes_received":734,"bytes_sent":512,"connection_termination_details":null,"downstream_local_address":"10.244.0.14:10080","downstream_remote_address":"192.168.10.200:34805","duration":13,"method":"POST","protocol":"HTTP/1.1","requested_server_name":null,"response_code":200,"response_code_details":"via_upstream","response_flags":"-","route_name":"httproute/shop/cart/rule/0/match/0/shop_example_com","start_time":"2026-11-25T07:00:29.639Z","upstream_cluster":"httproute/shop/cart/rule/0","upstream_host":"10.244.2.21:8080","upstream_local_address":"10.244.0.14:58822","upstream_transport_failure_reason":null,"user-agent":"curl/8.11.1","x-envoy-origin-path":"/api/v1/cart?user=42&session=s3cr3t","x-envoy-upstream-service-time":"11","x-forwarded-for":"203.0.113.7","x-request-id":"ab1e4da7-5f1d-45ea-bb4a-fa1ccd03b82b"}';

/** A custom Envoy format with trace headers. */
export const ENVOY_CUSTOM_FORMAT =
  '%START_TIME% %REQ(:METHOD)% %REQ(:AUTHORITY)% %REQ(:PATH)% %RESPONSE_CODE% %DURATION% %REQ(X-REQUEST-ID)% b3=%REQ(B3)% x-b3=%REQ(X-B3-TRACEID)%/%REQ(X-B3-SPANID)% %UPSTREAM_HOST% %GRPC_STATUS(NUMBER)%';
export const ENVOY_CUSTOM_LINE =
  '2026-11-25T07:00:27.000Z POST grpc.example.com /pkg.Svc/Call 200 9 custom-envoy-1 b3=80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1 x-b3=-/- 10.244.8.8:50051 14';

export const ENVOY_NON_ACCESS = {
  envoyApp:
    '[2026-11-25 07:00:00.123][15][warning][config] [source/common/config/grpc_stream.h:193] StreamAggregatedResources gRPC config stream closed',
  istioAgent:
    '2026-11-25T07:00:00.123456Z\tinfo\txdsproxy\tconnected to upstream XDS server: istiod.istio-system.svc:15012',
  jsonApp: '{"level":"info","time":"2026-11-25T07:00:00.123456Z","msg":"Envoy proxy is ready"}',
} as const;

export const ENVOY_MALFORMED = '[2026-11-25T07:00:28.000Z] "GET /x HTTP/1.1" 200 - via_upstream - "-" 0 12';

// --- files ------------------------------------------------------------------------

export interface PodFile {
  readonly namespace: string;
  readonly pod: string;
  readonly uid: string;
  readonly container: string;
  readonly restart?: number;
}

export function podLogPath(root: string, p: PodFile): string {
  return join(root, `${p.namespace}_${p.pod}_${p.uid}`, p.container, `${p.restart ?? 0}.log`);
}

/** A CRI timestamp with nanoseconds, distinct per `i`. */
export const criTime = (i: number) => `2026-11-25T07:00:00.${String(i % 1e9).padStart(9, '0')}Z`;

/** CRI lines for `lines`; with `splitAt`, each line longer than it is written as P records of that size. */
export function criLines(lines: readonly string[], splitAt = 0, first = 0): string {
  let out = '';
  for (let i = 0; i < lines.length; i++) {
    const t = criTime(first + i);
    const line = lines[i]!;
    if (splitAt > 0 && line.length > splitAt) {
      for (let p = 0; p < line.length; p += splitAt)
        out += `${t} stdout ${p + splitAt >= line.length ? 'F' : 'P'} ${line.slice(p, p + splitAt)}\n`;
    } else out += `${t} stdout F ${line}\n`;
  }
  return out;
}

/** Docker json-file lines for `lines`. */
export function dockerLines(lines: readonly string[]): string {
  return lines
    .map((l) => `${JSON.stringify({ log: `${l}\n`, stream: 'stdout', time: '2026-11-25T07:00:00.000000001Z' })}\n`)
    .join('');
}

export function writePodLog(root: string, p: PodFile, content: string): string {
  const path = podLogPath(root, p);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
  return path;
}

export const INGRESS_POD: PodFile = {
  namespace: 'ingress-nginx',
  pod: 'ingress-nginx-controller-7f9c6d8b5-x2k4p',
  uid: '6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9',
  container: 'controller',
};
export const SIDECAR_POD: PodFile = {
  namespace: 'bookinfo',
  pod: 'reviews-v1-5f6d7c8b9-abcde',
  uid: '11111111-2222-4333-8444-555555555555',
  container: 'istio-proxy',
};
export const GATEWAY_POD: PodFile = {
  namespace: 'istio-system',
  pod: 'istio-ingressgateway-6d8f9c7b5-qwert',
  uid: '99999999-8888-4777-8666-555555555555',
  container: 'istio-proxy',
};

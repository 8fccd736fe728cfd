// The access-log parsers and the mapping into `http_requests`, format by
// format, on lines written for these tests (testdata/fixtures.ts); and the
// property that no input makes them throw or produce an invalid row.
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { test } from 'node:test';
import fc from 'fast-check';
import { type HttpRequestRow, TABLES } from '../../../contract/generated.ts';
import { validateRow } from '../../../contract/validate.ts';
import { QueryHasher, splitTarget } from '../../../privacy/url.ts';
import { roleOf } from '../source.ts';
import {
  ENVOY,
  ENVOY_CUSTOM_FORMAT,
  ENVOY_CUSTOM_LINE,
  ENVOY_GATEWAY_JSON,
  ENVOY_JSON,
  ENVOY_MALFORMED,
  ENVOY_NON_ACCESS,
  NGINX,
  NGINX_CUSTOM_FORMAT,
  NGINX_CUSTOM_LINE,
  NGINX_JSON,
  NGINX_MALFORMED,
  NGINX_NON_ACCESS,
} from '../testdata/fixtures.ts';
import { EnvoyParser } from './envoy.ts';
import {
  buildRow,
  durationUs,
  parseCount,
  parseHostPort,
  parseTimeUs,
  serviceOfCluster,
  splitList,
  splitRequestLine,
} from './fields.ts';
import { parseJsonObject } from './lenient-json.ts';
import { NginxParser } from './nginx.ts';
import type { AccessLogParser } from './outcome.ts';

const hasher = new QueryHasher('test-key-0123456789');
const noHash = new QueryHasher(undefined);

function rowOf(parser: AccessLogParser, line: string, q = noHash): HttpRequestRow {
  const outcome = parser.parse(line);
  assert.equal(outcome.kind, 'access', `not an access line: ${JSON.stringify(outcome)}`);
  if (outcome.kind !== 'access') throw new Error('unreachable');
  const result = buildRow(outcome.fields, {
    recordId: 'r',
    observedUs: 1,
    node: 'node-a',
    source: 'container-logs',
    proxy: parser.proxy,
    role: roleOf(
      { parser: 'envoy', containers: ['*'], namespaces: ['*'], pods: ['*'], role: 'auto', gateway_pods: [] },
      parser.proxy,
      outcome.fields,
      false,
    ),
    queryHasher: q,
  });
  if ('error' in result) throw new Error(result.error);
  assert.equal(validateRow(TABLES.http_requests, result.row), undefined);
  return result.row;
}

const us = (iso: string) => parseTimeUs(iso)!;

test('ingress-nginx upstreaminfo: fields, upstream attempt, query dropped or hashed', () => {
  const nginx = new NginxParser();
  const r = rowOf(nginx, NGINX.upstreaminfo);
  assert.equal(r.event_time, us('2026-11-25T07:00:01Z'));
  assert.equal(r.start_time, r.event_time - 12_000);
  assert.equal(r.duration_us, 12_000);
  assert.deepEqual([r.method, r.path, r.protocol, r.status], ['GET', '/shop/cart', 'HTTP/1.1', 200]);
  assert.equal(r.query_hash, null);
  assert.equal(r.request_id, '7f3c2a9b4d5e6f708192a3b4c5d6e7f8');
  assert.equal(r.downstream_remote_ip, '203.0.113.7');
  assert.equal(r.upstream_cluster, 'shop-cart-8080');
  assert.equal(r.upstream_alternative, null);
  assert.deepEqual(r.upstream_attempts, [
    { address: '10.244.1.17', port: 8080, status: 200, duration_us: 11_000, bytes_received: 512 },
  ]);
  assert.deepEqual([r.bytes_received, r.bytes_sent, r.user_agent], [420, 512, 'Mozilla/5.0 (X11; Linux x86_64)']);
  assert.equal(r.role, 'ingress');
  assert.match(rowOf(nginx, NGINX.upstreaminfo, hasher).query_hash!, /^[0-9a-f]{32}$/);
});

test('ingress-nginx: retries and upstream groups become ordered attempts; `-` is unknown', () => {
  const r = rowOf(new NginxParser(), NGINX.retries);
  assert.equal(r.event_time, us('2026-11-25T06:00:02Z'), '+0100 offset');
  assert.equal(r.upstream_alternative, 'shop-orders-canary-http');
  assert.equal(r.request_id, 'req-42');
  assert.equal(r.protocol, 'HTTP/2.0');
  assert.deepEqual(r.upstream_attempts, [
    { address: '10.244.1.20', port: 8080, status: 502, duration_us: 1_001_000, bytes_received: 0 },
    { address: '10.244.2.21', port: 8080, status: 504, duration_us: 2_001_000, bytes_received: null },
    { address: '10.96.0.50', port: 80, status: 502, duration_us: 2_000, bytes_received: 150 },
  ]);
});

test('ingress-nginx: IPv6 and unix sockets; garbage request lines keep the record', () => {
  const nginx = new NginxParser();
  const v6 = rowOf(nginx, NGINX.ipv6);
  assert.equal(v6.downstream_remote_ip, '2001:db8::7');
  assert.deepEqual(
    v6.upstream_attempts?.map((a) => [a.address, a.port]),
    [
      ['2001:db8::42', 9000],
      ['unix:/run/php/fpm.sock', null],
    ],
  );
  const bad = rowOf(nginx, NGINX.garbage);
  assert.deepEqual([bad.method, bad.path, bad.protocol, bad.status], [null, null, null, 400]);
  assert.deepEqual(bad.upstream_attempts, []);
  assert.equal(bad.upstream_cluster, null);
});

test('ingress-nginx: older formats with [$the_real_ip] and without $req_id', () => {
  const nginx = new NginxParser();
  const a = rowOf(nginx, NGINX.legacyRealIp);
  assert.deepEqual(a.forwarded_for, ['198.51.100.23']);
  assert.equal(a.request_id, 'legacy-req-1');
  assert.equal(a.upstream_attempts?.[0]?.address, '10.244.3.4');
  const b = rowOf(nginx, NGINX.legacyNoReqId);
  assert.equal(b.request_id, null);
  assert.equal(b.status, 200);
});

test('ingress-nginx: escaped quotes and UTF-8 in values', () => {
  assert.equal(rowOf(new NginxParser(), NGINX.escaped).user_agent, 'agent "quoted" €');
});

test('ingress-nginx: a custom log-format-upstream with Kubernetes variables and trace context', () => {
  const r = rowOf(new NginxParser(NGINX_CUSTOM_FORMAT), NGINX_CUSTOM_LINE, hasher);
  assert.equal(r.event_time, us('2026-11-25T07:00:08Z'));
  assert.deepEqual([r.downstream_remote_ip, r.downstream_remote_port], ['203.0.113.9', 51234]);
  assert.deepEqual([r.method, r.authority, r.path, r.status], ['GET', 'api.example.com', '/v1/items', 201]);
  assert.match(r.query_hash!, /^[0-9a-f]{32}$/);
  assert.equal(r.upstream_service, 'shop/api:8080');
  assert.equal(r.route_name, 'shop/api-ingress');
  assert.equal(r.trace_id, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(r.span_id, '00f067aa0ba902b7');
  assert.equal(r.amzn_trace_id, '1-5759e988-bd862e3fe1be46a994272793');
  assert.equal(r.bytes_sent, 99);
});

test('ingress-nginx JSON: escape=json, default (\\x22, bare -) and none (raw quotes)', () => {
  const nginx = new NginxParser();
  const a = rowOf(nginx, NGINX_JSON.json, hasher);
  assert.deepEqual([a.method, a.path, a.status, a.request_id], ['DELETE', '/a', 204, 'json-req-1']);
  assert.match(a.query_hash!, /^[0-9a-f]{32}$/);
  assert.deepEqual(a.forwarded_for, ['198.51.100.1', '10.0.0.2']);
  assert.equal(a.user_agent, 'say "hi"');
  assert.equal(a.duration_us, 4000);
  const b = rowOf(nginx, NGINX_JSON.default);
  assert.deepEqual([b.status, b.bytes_sent, b.user_agent], [499, null, 'say "hi" €']);
  const c = rowOf(nginx, NGINX_JSON.none);
  assert.deepEqual([c.status, c.user_agent, c.request_id], [200, 'say "hi" raw', 'json-req-3']);
  const d = rowOf(nginx, NGINX_JSON.nested);
  assert.deepEqual(
    [d.method, d.path, d.status, d.upstream_cluster, d.duration_us, d.downstream_remote_ip],
    ['PUT', '/cart/1', 200, 'shop-cart-8080', 20_000, '203.0.113.11'],
  );
  assert.deepEqual(d.upstream_attempts?.[0], {
    address: '10.244.1.17',
    port: 8080,
    status: 200,
    duration_us: null,
    bytes_received: null,
  });
});

test('ingress-nginx JSON template: keys are read only as the template maps them', () => {
  const template =
    '{"t": "$time_iso8601", "who": "$remote_addr", "rid": "$req_id", "code": $status, "ua": "$http_user_agent", "auth": "$http_authorization", "req": "$request"}';
  const nginx = new NginxParser(template);
  const r = rowOf(
    nginx,
    '{"t": "2026-11-25T07:00:00+00:00", "who": "203.0.113.1", "rid": "t-1", "code": 200, "ua": "x", "auth": "Bearer s3cr3t", "req": "GET /p?q=1 HTTP/1.1"}',
  );
  assert.deepEqual([r.request_id, r.status, r.path, r.method], ['t-1', 200, '/p', 'GET']);
  assert.ok(!JSON.stringify(r).includes('s3cr3t'));
});

test('ingress-nginx: controller, error and stream lines are skipped by kind; a cut access line is malformed', () => {
  const nginx = new NginxParser();
  assert.deepEqual(nginx.parse(NGINX_NON_ACCESS.klog), { kind: 'skip', what: 'klog' });
  assert.deepEqual(nginx.parse(NGINX_NON_ACCESS.error), { kind: 'skip', what: 'nginx_error' });
  assert.deepEqual(nginx.parse(NGINX_NON_ACCESS.stream), { kind: 'skip', what: 'stream' });
  assert.deepEqual(nginx.parse(NGINX_NON_ACCESS.banner), { kind: 'skip', what: 'other' });
  assert.equal(nginx.parse(NGINX_MALFORMED).kind, 'malformed');
  assert.equal(nginx.parse('{"level":"info","msg":"x"}').kind, 'skip');
  assert.equal(nginx.parse('{"status": 200, "method": "GET", "time": "not a time"}').kind, 'access');
});

test('Envoy/Istio ≥1.9: outbound and inbound sides, addresses, Service and role', () => {
  const envoy = new EnvoyParser();
  const out = rowOf(envoy, ENVOY.outbound, hasher);
  assert.equal(out.start_time, us('2026-11-25T07:00:20.100Z'));
  assert.equal(out.event_time, out.start_time! + 12_000);
  assert.deepEqual([out.method, out.path, out.status, out.authority], ['GET', '/reviews/1', 200, 'reviews:9080']);
  assert.match(out.query_hash!, /^[0-9a-f]{32}$/);
  assert.equal(out.request_id, '0b7c8f1e-4a2b-9c3d-8e7f-1a2b3c4d5e6f');
  assert.deepEqual(
    [out.upstream_local_ip, out.upstream_local_port, out.downstream_local_ip, out.downstream_remote_port],
    ['10.244.1.9', 41234, '10.96.14.3', 52110],
  );
  assert.equal(out.upstream_service, 'bookinfo/reviews:9080');
  assert.deepEqual(out.upstream_attempts, [
    { address: '10.244.2.8', port: 9080, status: 200, duration_us: 10_000, bytes_received: null },
  ]);
  assert.equal(out.response_code_details, 'via_upstream');
  assert.equal(out.route_name, 'default');
  assert.equal(out.role, 'sidecar_outbound');
  const inb = rowOf(envoy, ENVOY.inbound);
  assert.equal(inb.role, 'sidecar_inbound');
  assert.equal(inb.downstream_remote_port, out.upstream_local_port, 'the exact join between the two sides');
  assert.equal(inb.upstream_service, null);
});

test('Envoy: failures, the Envoy default format, older Istio formats; TCP lines skipped', () => {
  const envoy = new EnvoyParser();
  const f = rowOf(envoy, ENVOY.failed);
  assert.deepEqual([f.status, f.response_flags, f.upstream_attempts], [503, 'UF,URX', []]);
  assert.equal(f.response_code_details, 'upstream_reset_before_response_started{connection_failure}');
  assert.deepEqual(f.forwarded_for, ['203.0.113.5']);
  const d = rowOf(envoy, ENVOY.envoyDefault);
  assert.deepEqual([d.status, d.duration_us, d.authority, d.role], [304, 3000, 'www.example.com', 'unknown']);
  assert.deepEqual(d.forwarded_for, ['198.51.100.7', '10.0.0.1']);
  assert.equal(d.upstream_attempts?.[0]?.status, null, 'unknown whether the status came from upstream');
  const old = rowOf(envoy, ENVOY.istio11);
  assert.deepEqual(
    [old.request_id, old.upstream_service, old.downstream_remote_port],
    ['r-istio11', 'default/ratings:9080', 50000],
  );
  const mid = rowOf(envoy, ENVOY.istio15);
  assert.deepEqual([mid.request_id, mid.upstream_local_port, mid.route_name], ['r-istio15', 40000, 'default']);
  assert.deepEqual(envoy.parse(ENVOY.tcp), { kind: 'skip', what: 'tcp' });
});

test('Envoy: Istio JSON (null and "-" unset), a custom format with B3 and gRPC status', () => {
  const envoy = new EnvoyParser();
  const j = rowOf(envoy, ENVOY_JSON);
  assert.deepEqual(
    [j.request_id, j.status, j.path, j.role, j.forwarded_for],
    ['json-envoy-1', 200, '/details/0', 'sidecar_inbound', []],
  );
  assert.equal(j.duration_us, 5000);
  assert.equal(j.upstream_local_ip, '127.0.0.6');
  const c = rowOf(new EnvoyParser(ENVOY_CUSTOM_FORMAT), ENVOY_CUSTOM_LINE);
  assert.deepEqual([c.method, c.authority, c.path, c.grpc_status], ['POST', 'grpc.example.com', '/pkg.Svc/Call', 14]);
  assert.equal(c.trace_id, '80f198ee56343ba864fe8b2a57d3eff7');
  assert.equal(c.span_id, 'e457b5a2e4d86bd1');
});

test('Envoy Gateway default JSON: the path from x-envoy-origin-path, its query dropped or hashed', () => {
  const envoy = new EnvoyParser();
  const g = rowOf(envoy, ENVOY_GATEWAY_JSON, hasher);
  assert.deepEqual(
    [g.method, g.path, g.protocol, g.status, g.authority, g.request_id],
    ['POST', '/api/v1/cart', 'HTTP/1.1', 200, 'shop.example.com', 'ab1e4da7-5f1d-45ea-bb4a-fa1ccd03b82b'],
  );
  // The same keyed hash as a query in any other format.
  assert.equal(g.query_hash, hasher.hash(splitTarget('/api/v1/cart?user=42&session=s3cr3t').query));
  assert.equal(rowOf(envoy, ENVOY_GATEWAY_JSON).query_hash, null);
  assert.equal(g.start_time, us('2026-11-25T07:00:29.639Z'));
  assert.deepEqual([g.duration_us, g.bytes_received, g.bytes_sent], [13_000, 734, 512]);
  assert.deepEqual(g.forwarded_for, ['203.0.113.7']);
  assert.deepEqual(
    [g.downstream_remote_ip, g.downstream_local_port, g.upstream_local_ip, g.upstream_local_port],
    ['192.168.10.200', 10080, '10.244.0.14', 58822],
  );
  assert.deepEqual(g.upstream_attempts, [
    { address: '10.244.2.21', port: 8080, status: 200, duration_us: 11_000, bytes_received: null },
  ]);
  assert.deepEqual(
    [g.upstream_cluster, g.route_name, g.response_flags, g.response_code_details, g.user_agent],
    [
      'httproute/shop/cart/rule/0',
      'httproute/shop/cart/rule/0/match/0/shop_example_com',
      null,
      'via_upstream',
      'curl/8.11.1',
    ],
  );
  // `:path`, as other JSON formats name it, is read the same way.
  const colon = rowOf(envoy, ENVOY_GATEWAY_JSON.replace('"x-envoy-origin-path"', '":path"'), hasher);
  assert.deepEqual([colon.path, colon.query_hash], [g.path, g.query_hash]);
});

test('Envoy: application, pilot-agent and JSON app lines skipped; a cut access line is malformed', () => {
  const envoy = new EnvoyParser();
  assert.deepEqual(envoy.parse(ENVOY_NON_ACCESS.envoyApp), { kind: 'skip', what: 'envoy_app' });
  assert.deepEqual(envoy.parse(ENVOY_NON_ACCESS.istioAgent), { kind: 'skip', what: 'istio_agent' });
  assert.deepEqual(envoy.parse(ENVOY_NON_ACCESS.jsonApp), { kind: 'skip', what: 'json_app' });
  assert.equal(envoy.parse(ENVOY_MALFORMED).kind, 'malformed');
});

test('roles: configured, gateway pods, cluster direction', () => {
  const rule = { parser: 'envoy' as const, containers: ['*'], namespaces: ['*'], pods: ['*'], gateway_pods: [] };
  assert.equal(
    roleOf({ ...rule, role: 'auto' }, 'envoy', { up_cluster: 'outbound|80||a.b.svc.cluster.local' }, true),
    'gateway',
  );
  assert.equal(
    roleOf({ ...rule, role: 'auto' }, 'envoy', { up_cluster: 'InboundPassthroughClusterIpv4' }, false),
    'sidecar_inbound',
  );
  assert.equal(
    roleOf({ ...rule, role: 'auto' }, 'envoy', { up_cluster: 'PassthroughCluster' }, false),
    'sidecar_outbound',
  );
  assert.equal(roleOf({ ...rule, role: 'gateway' }, 'envoy', {}, false), 'gateway');
  assert.equal(serviceOfCluster('outbound|443||api.example.com'), undefined, 'a ServiceEntry host is not a Service');
});

test('times: RFC 3339 with nanoseconds, nginx local time, epoch seconds and milliseconds', () => {
  assert.equal(parseTimeUs('2026-11-25T07:00:00.123456789Z'), Date.UTC(2026, 10, 25, 7) * 1000 + 123456);
  assert.equal(parseTimeUs('25/Nov/2026:08:00:00 +0100'), Date.UTC(2026, 10, 25, 7) * 1000);
  assert.equal(parseTimeUs('1795590000.250'), 1795590000250000);
  assert.equal(parseTimeUs('1795590000250'), 1795590000250000);
  assert.equal(parseTimeUs('31/Foo/2026:00:00:00 +0000'), undefined);
  assert.equal(parseTimeUs('9999-01-01T00:00:00Z'), undefined, 'beyond what a row can hold');
});

test('lenient JSON: nginx escapes, raw quotes, bare -, and no prototype pollution', () => {
  assert.deepEqual(
    parseJsonObject('{"a": "x\\x22y\\xE2\\x82\\xAC", "b": -, "c": "say "hi" now", "d": {"e": [1, 2]}}'),
    {
      a: 'x"y€',
      b: null,
      c: 'say "hi" now',
      d: { e: [1, 2] },
    },
  );
  const o = parseJsonObject('{"__proto__": {"polluted": "yes"}, "k": 1 }')!;
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(o.k, 1);
  assert.equal(parseJsonObject('{"a": "unterminated}'), undefined);
  assert.equal(parseJsonObject(`${'['.repeat(10_000)}`), undefined);
  assert.equal(parseJsonObject(`{"a":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}, "b": -}`), undefined, 'too deep');
  assert.equal(new NginxParser().parse(`{"a":${'{"a":'.repeat(5000)}1${'}'.repeat(5001)}`).kind, 'skip');
});

// --- properties ---------------------------------------------------------------------

const allLines = [
  ...Object.values(NGINX),
  NGINX_CUSTOM_LINE,
  ...Object.values(NGINX_JSON),
  ...Object.values(NGINX_NON_ACCESS),
  NGINX_MALFORMED,
  ...Object.values(ENVOY),
  ENVOY_JSON,
  ENVOY_CUSTOM_LINE,
  ...Object.values(ENVOY_NON_ACCESS),
  ENVOY_MALFORMED,
];
const parsers: AccessLogParser[] = [
  new NginxParser(),
  new NginxParser(NGINX_CUSTOM_FORMAT),
  new EnvoyParser(),
  new EnvoyParser(ENVOY_CUSTOM_FORMAT),
];

/** Real lines with random edits: cut, characters inserted, deleted or replaced. */
const mutatedLine = fc
  .tuple(
    fc.constantFrom(...allLines),
    fc.array(
      fc.tuple(
        fc.nat(),
        fc.constantFrom('insert', 'delete', 'replace', 'cut'),
        fc.string({ unit: 'binary', maxLength: 4 }),
      ),
      { maxLength: 6 },
    ),
  )
  .map(([line, edits]) => {
    let s = line;
    for (const [at, op, text] of edits) {
      const i = s.length ? at % s.length : 0;
      if (op === 'insert') s = s.slice(0, i) + text + s.slice(i);
      else if (op === 'delete') s = s.slice(0, i) + s.slice(i + 1);
      else if (op === 'replace') s = s.slice(0, i) + text + s.slice(i + text.length);
      else s = s.slice(0, i);
    }
    return s;
  });

const anyLine = fc.oneof(
  mutatedLine,
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.json().map((j) => j.replace(/\n/g, ' ')),
  fc.string({ unit: fc.constantFrom('"', '\\', ' ', '[', ']', '{', '}', ':', ',', '-', 'x', '%'), maxLength: 200 }),
);

test('property: no line makes a parser throw; every access outcome maps to a valid row or a counted error', () => {
  fc.assert(
    fc.property(anyLine, fc.boolean(), (line, hashQueries) => {
      for (const parser of parsers) {
        const outcome = parser.parse(line);
        if (outcome.kind !== 'access') continue;
        const result = buildRow(outcome.fields, {
          recordId: 'r',
          observedUs: 1,
          node: 'n',
          source: 's',
          proxy: parser.proxy,
          role: 'unknown',
          fallbackTimeUs: 1_795_590_000_000_000,
          queryHasher: hashQueries ? hasher : noHash,
        });
        if ('row' in result) assert.equal(validateRow(TABLES.http_requests, result.row), undefined, line);
      }
    }),
    { numRuns: 3000 },
  );
});

test('property: lines full of quotes and brackets stay cheap to reject', () => {
  // Lenient matching backtracks over quotes; it is bounded by the quote count.
  const nasty = `203.0.113.7 - - [25/Nov/2026:07:00:01 +0000] ${'"a" '.repeat(2000)}`;
  for (const parser of parsers) assert.notEqual(parser.parse(nasty).kind, 'access');
  const nested = `{"a": ${'"x", "b": '.repeat(5000)}1}`;
  for (const parser of parsers) parser.parse(nested);
});

test('property: the hand-written value readers agree with the regular expressions they stand for', () => {
  // The expressions the readers replaced on the hot path, kept here as the specification.
  const count = (t: string) => (/^\d{1,16}$/.test(t) ? Number(t) : undefined);
  const duration = (t: string, unitUs: number) => {
    const m = /^(\d{1,12})(\.\d{1,9})?s?$/.exec(t);
    if (!m) return undefined;
    const v = Math.round(Number(m[1] + (m[2] ?? '')) * unitUs);
    return Number.isSafeInteger(v) ? v : undefined;
  };
  const list = (t: string) => t.split(/, | : /).map((s) => s.trim());
  const requestLine = (t: string) => {
    const m = /^(\S+) (\S+)(?: (\S+))?$/.exec(t);
    return m ? [m[1], m[2], m[3]] : undefined;
  };
  const hostPort = (text: string) => {
    let s = text.trim();
    if (!s || s === '-') return undefined;
    const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?::(\d{1,5}))?$/.exec(s);
    if (v4 && +v4[1]! < 256 && +v4[2]! < 256 && +v4[3]! < 256 && +v4[4]! < 256) {
      const ip = v4[5] === undefined ? s : s.slice(0, s.length - v4[5].length - 1);
      const port = v4[5] === undefined ? undefined : Number(v4[5]);
      return { address: ip, port: port !== undefined && port <= 65_535 ? port : undefined, ip };
    }
    if (s.startsWith('unix:') || s.startsWith('/')) return { address: s, port: undefined, ip: undefined };
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
    } else if (s.split(':').length === 2) [host, portText] = s.split(':') as [string, string];
    if (!host) return undefined;
    const port = portText === undefined ? undefined : parseCount(portText, 65_535);
    return { address: host, port, ip: isIP(host) ? host : undefined };
  };
  const text = fc.string({
    unit: fc.constantFrom(
      '0',
      '1',
      '2',
      '5',
      '9',
      '.',
      ':',
      ',',
      ' ',
      's',
      '-',
      'a',
      'G',
      '/',
      '\t',
      '\u00a0',
      '\u2028',
    ),
    maxLength: 24,
  });
  const digits = (max: number) => fc.string({ unit: fc.constantFrom('0', '1', '2', '5', '6', '9'), maxLength: max });
  const address = fc
    .tuple(digits(4), digits(4), digits(4), digits(4), fc.option(digits(6)), fc.constantFrom('', ' ', 'x'))
    .map(([a, b, c, d, port, tail]) => `${a}.${b}.${c}.${d}${port === null ? '' : `:${port}`}${tail}`);
  const number = fc
    .tuple(digits(14), fc.option(digits(10)), fc.constantFrom('', 's', 'ss', ' '))
    .map(([whole, fraction, tail]) => `${whole}${fraction === null ? '' : `.${fraction}`}${tail}`);
  fc.assert(
    fc.property(fc.oneof(text, address, number), (t) => {
      assert.equal(parseCount(t), count(t), t);
      assert.equal(durationUs(t, 1000), duration(t, 1000), t);
      assert.equal(durationUs(t, 1_000_000), duration(t, 1_000_000), t);
      assert.deepEqual(splitList(t), list(t), t);
      assert.deepEqual(splitRequestLine(t), requestLine(t), t);
      const hp = parseHostPort(t);
      assert.deepEqual(hp && { address: hp.address, port: hp.port, ip: hp.ip }, hostPort(t), t);
    }),
    { numRuns: 20000 },
  );
  assert.deepEqual(parseHostPort('10.0.0.1:65536'), { address: '10.0.0.1', port: undefined, ip: '10.0.0.1' });
  assert.deepEqual(splitRequestLine('GET / HTTP/1.1'), ['GET', '/', 'HTTP/1.1']);
  assert.equal(splitRequestLine('GET  /'), undefined);
});

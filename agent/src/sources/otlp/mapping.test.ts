// The OTLP → `spans` mapping on its own: both encodings, the semantic
// convention generations, what makes a span invalid, and fuzzing of the
// decoder and the mapper with arbitrary input.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { jsonToProtobuf } from '../../../../test/support/otlp.ts';
import { TABLES } from '../../contract/generated.ts';
import { validateRow } from '../../contract/validate.ts';
import { MalformedRequest, mapExportRequest, nanosToMicros, SPAN_ATTRIBUTE_ALLOW_LIST } from './mapping.ts';
import { ExportTraceServiceRequest } from './protos.ts';

const ctx = { node: 'node-a', source: 'otlp-http', observedUs: 1_768_471_300_000_000 };
const str = (s: string) => ({ stringValue: s });
const int = (n: number | string) => ({ intValue: n });
const kv = (key: string, value: unknown) => ({ key, value });

function request(spans: unknown[], resource: unknown[] = [kv('service.name', str('svc'))], scope = 'lib') {
  return { resourceSpans: [{ resource: { attributes: resource }, scopeSpans: [{ scope: { name: scope }, spans }] }] };
}

const span = (over: Record<string, unknown> = {}) => ({
  traceId: '5B8EFFF798038103D269B633813FC60C',
  spanId: 'EEE19B7EC3C1B174',
  parentSpanId: 'EEE19B7EC3C1B173',
  name: 'GET /orders/{id}',
  kind: 2,
  startTimeUnixNano: '1768471200123456789',
  endTimeUnixNano: '1768471200323456999',
  ...over,
});

/** Maps the request from its JSON form and from its protobuf form; both must agree. */
function mapBoth(req: unknown) {
  const fromJson = mapExportRequest(JSON.parse(JSON.stringify(req)), ctx);
  const fromProto = mapExportRequest(ExportTraceServiceRequest.decode(jsonToProtobuf(req)), ctx);
  assert.deepEqual(fromProto.rows, fromJson.rows, 'protobuf and JSON map alike');
  assert.deepEqual([...fromProto.rejected], [...fromJson.rejected]);
  for (const row of fromJson.rows) assert.equal(validateRow(TABLES.spans, row), undefined);
  return fromJson;
}

test('ids, times, kind, status and resource attributes map from both encodings', () => {
  const { rows, received, rejected } = mapBoth(
    request(
      [span({ status: { code: 2, message: 'secret detail' } })],
      [
        kv('service.name', str('orders')),
        kv('k8s.namespace.name', str('shop')),
        kv('k8s.pod.name', str('orders-7d9c-abcde')),
        kv('k8s.pod.uid', str('6f1c-uid')),
        kv('k8s.node.name', str('node-7')),
        kv('k8s.container.name', str('orders')),
        kv('deployment.environment', str('prod')),
      ],
    ),
  );
  assert.equal(received, 1);
  assert.equal(rejected.size, 0);
  const row = rows[0]!;
  assert.equal(row.trace_id, '5b8efff798038103d269b633813fc60c', 'hex ids are case-insensitive, stored lowercase');
  assert.equal(row.span_id, 'eee19b7ec3c1b174');
  assert.equal(row.parent_span_id, 'eee19b7ec3c1b173');
  assert.equal(row.start_time, 1768471200123456, 'nanoseconds truncate to exact microseconds');
  assert.equal(row.end_time, 1768471200323456);
  assert.equal(row.event_time, row.end_time);
  assert.equal(row.duration_us, 200000);
  assert.equal(row.kind, 'SERVER');
  assert.equal(row.status_code, 'ERROR');
  assert.deepEqual(
    [row.service_name, row.k8s_namespace, row.k8s_pod, row.k8s_pod_uid, row.k8s_node, row.k8s_container],
    ['orders', 'shop', 'orders-7d9c-abcde', '6f1c-uid', 'node-7', 'orders'],
  );
  assert.equal(row.scope_name, 'lib');
  assert.equal(row.source, 'otlp-http');
  assert.match(row.record_id, /^[0-9a-f]{32}$/);
  assert.ok(!JSON.stringify(row).includes('secret detail'), 'status messages are not kept');
});

test('OTLP/JSON leniency: enum names, int64 as numbers, proto field names', () => {
  const { rows } = mapExportRequest(
    request([
      span({ kind: 'SPAN_KIND_CLIENT', status: { code: 'STATUS_CODE_OK' } }),
      span({ spanId: '00000000000000a1', kind: 5, startTimeUnixNano: 1768471200000000000 }),
    ]),
    ctx,
  );
  assert.equal(rows[1]!.start_time, 1768471200000000);
  assert.deepEqual(
    rows.map((r) => [r.kind, r.status_code]),
    [
      ['CLIENT', 'OK'],
      ['CONSUMER', 'UNSET'],
    ],
  );
  const snake = mapExportRequest(
    {
      resource_spans: [
        {
          scope_spans: [
            {
              spans: [
                {
                  trace_id: '0af7651916cd43dd8448eb211c80319c',
                  span_id: 'b7ad6b7169203331',
                  start_time_unix_nano: '1768471200000000000',
                  end_time_unix_nano: '1768471200000001000',
                  attributes: [kv('http.method', { string_value: 'PUT' })],
                },
              ],
            },
          ],
        },
      ],
    },
    ctx,
  );
  assert.equal(snake.rows[0]!.http_method, 'PUT');
  assert.equal(snake.rows[0]!.duration_us, 1);
});

test('HTTP attributes: current conventions, the query never survives', () => {
  const { rows } = mapBoth(
    request([
      span({
        attributes: [
          kv('http.request.method', str('GET')),
          kv('http.route', str('/orders/{id}')),
          kv('url.path', str('/orders/42')),
          kv('url.query', str('token=s3cr3t')),
          kv('url.full', str('https://shop.example.com/orders/42?token=s3cr3t')),
          kv('http.response.status_code', int(404)),
          kv('server.address', str('orders.shop.svc')),
          kv('server.port', int('8080')),
          kv('network.peer.address', str('10.1.2.3')),
          kv('network.peer.port', int(51234)),
          kv('client.address', str('203.0.113.9')),
          kv('http.request.header.x-request-id', { arrayValue: { values: [str('req-abc-123')] } }),
          kv('http.request.header.authorization', { arrayValue: { values: [str('Bearer s3cr3t')] } }),
        ],
      }),
    ]),
  );
  const r = rows[0]!;
  assert.deepEqual(
    [r.http_method, r.http_route, r.url_path, r.http_status, r.server_address, r.server_port],
    ['GET', '/orders/{id}', '/orders/42', 404, 'orders.shop.svc', 8080],
  );
  assert.deepEqual([r.peer_address, r.peer_port, r.request_id], ['10.1.2.3', 51234, 'req-abc-123']);
  assert.ok(!JSON.stringify(rows).includes('s3cr3t'));
});

test('HTTP and network attributes: the names before semantic conventions 1.21', () => {
  const { rows } = mapBoth(
    request([
      span({
        spanId: '0000000000000001',
        kind: 3,
        attributes: [
          kv('http.method', str('POST')),
          kv('http.url', str('http://user:pw@payments:9000/charge?card=4111111111111111')),
          kv('http.status_code', int(502)),
          kv('net.peer.name', str('payments')),
          kv('net.peer.port', int(9000)),
          kv('net.sock.peer.addr', str('10.1.9.9')),
        ],
      }),
      span({
        spanId: '0000000000000002',
        kind: 2,
        attributes: [
          kv('http.method', str('GET')),
          kv('http.target', str('/search?q=private')),
          kv('net.host.name', str('search')),
          kv('net.host.port', int(8080)),
          kv('net.peer.ip', str('10.1.4.4')),
          kv('net.peer.port', int(40000)),
        ],
      }),
      span({
        spanId: '0000000000000003',
        kind: 2,
        attributes: [
          kv('rpc.system', str('grpc')),
          kv('rpc.service', str('shop.Cart')),
          kv('rpc.method', str('Add')),
          kv('rpc.grpc.status_code', int(5)),
          kv('client.address', str('10.1.5.5')),
          kv('client.port', int(41000)),
          kv('guid:x-request-id', str('envoy-req-9')),
        ],
      }),
    ]),
  );
  const [client, server, rpc] = rows;
  assert.deepEqual(
    [client!.http_method, client!.url_path, client!.http_status, client!.server_address, client!.server_port],
    ['POST', '/charge', 502, 'payments', 9000],
  );
  assert.deepEqual([client!.peer_address, client!.peer_port], ['10.1.9.9', null]);
  assert.deepEqual(
    [server!.url_path, server!.server_address, server!.server_port, server!.peer_address, server!.peer_port],
    ['/search', 'search', 8080, '10.1.4.4', 40000],
  );
  assert.deepEqual(
    [rpc!.rpc_system, rpc!.rpc_service, rpc!.rpc_method, rpc!.grpc_status, rpc!.peer_address, rpc!.peer_port],
    ['grpc', 'shop.Cart', 'Add', 5, '10.1.5.5', 41000],
  );
  assert.equal(rpc!.request_id, 'envoy-req-9');
  assert.ok(!JSON.stringify(rows).match(/4111|private|user:pw/));
});

test('attribute values of the wrong type or out of range are left out, not guessed', () => {
  const { rows } = mapBoth(
    request([
      span({
        attributes: [
          kv('http.response.status_code', str('not-a-number')),
          kv('server.port', int(70000)),
          kv('network.peer.port', { doubleValue: 443 }),
          kv('http.route', int(7)),
          kv('url.path', str('')),
          kv('span.name.like', str('GET /x?y=secret')),
        ],
        name: 'GET /search?q=secret',
      }),
    ]),
  );
  const r = rows[0]!;
  assert.deepEqual(
    [r.http_status, r.server_port, r.peer_port, r.http_route, r.url_path],
    [null, null, 443, null, null],
  );
  assert.equal(r.name, 'GET /search', 'a query in the span name is cut');
});

test('invalid spans are rejected with a reason each; valid ones in the same request are kept', () => {
  const bad = [
    span({ traceId: 'W47/95gDgQPSabYzgT/GDA==' }),
    span({ traceId: '00000000000000000000000000000000' }),
    span({ traceId: '5b8efff7' }),
    span({ spanId: '0000000000000000' }),
    span({ spanId: 'zzzzzzzzzzzzzzzz' }),
    span({ parentSpanId: 'abc' }),
    span({ startTimeUnixNano: '0' }),
    span({ endTimeUnixNano: undefined }),
    span({ startTimeUnixNano: '-5' }),
    span({ startTimeUnixNano: '99999999999999999999' }),
    span({ endTimeUnixNano: '1768471200000000000' }),
  ];
  const good = span({ spanId: '1111111111111111', parentSpanId: '' });
  const json = mapExportRequest(JSON.parse(JSON.stringify(request([...bad, good, 'not a span']))), ctx);
  assert.equal(json.received, 13);
  assert.deepEqual(Object.fromEntries(json.rejected), {
    invalid_trace_id: 3,
    invalid_span_id: 2,
    invalid_parent_span_id: 1,
    invalid_timestamps: 4,
    end_before_start: 1,
    malformed_span: 1,
  });
  assert.equal(json.rows.length, 1);
  assert.equal(json.rows[0]!.parent_span_id, null, 'an empty parent id is a root span');
  assert.match(json.firstProblem!, /^resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]: traceId/);
});

test('a request whose structure is not OTLP is malformed as a whole', () => {
  for (const body of [[], 'x', 42, null, { resourceSpans: {} }, { resourceSpans: [7] }, request([]).resourceSpans])
    assert.throws(() => mapExportRequest(body, ctx), MalformedRequest, JSON.stringify(body));
  assert.equal(mapExportRequest({}, ctx).received, 0, 'an empty request is valid');
});

test('nanoseconds convert exactly from Long, string and number', () => {
  const ns = 1768471200123456789n;
  const long = { low: Number(ns & 0xffffffffn) | 0, high: Number(ns >> 32n) | 0, unsigned: true };
  assert.equal(nanosToMicros(long), 1768471200123456);
  assert.equal(nanosToMicros(String(ns)), 1768471200123456);
  assert.equal(nanosToMicros('999'), 0);
  assert.equal(nanosToMicros({ low: 0, high: -1 }), undefined, 'beyond what a row holds exactly');
  assert.equal(nanosToMicros('1.5e18'), undefined);
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (n) => {
      const l = { low: Number(n & 0xffffffffn) | 0, high: Number(n >> 32n) | 0 };
      const us = n / 1000n;
      const expected = us <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(us) : undefined;
      assert.equal(nanosToMicros(l), expected);
      assert.equal(nanosToMicros(n.toString()), expected);
    }),
  );
});

// --- fuzzing -------------------------------------------------------------------

const hex = (n: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: n, maxLength: n });
const CANARY = 'CANARY-7f3a';
const attrValue = fc.oneof(
  fc.string().map(str),
  fc.integer({ min: -1, max: 70000 }).map(int),
  fc.boolean().map((b) => ({ boolValue: b })),
  fc.double({ noNaN: true }).map((d) => ({ doubleValue: d })),
  fc.array(fc.string(), { maxLength: 3 }).map((a) => ({ arrayValue: { values: a.map(str) } })),
);
const attribute = fc.oneof(
  fc.tuple(fc.constantFrom(...SPAN_ATTRIBUTE_ALLOW_LIST), attrValue).map(([k, v]) => kv(k, v)),
  fc
    .tuple(fc.constantFrom('db.statement', 'url.query', 'enduser.id', 'http.request.header.cookie', 'x'), fc.string())
    .map(([k, s]) => kv(k, str(`${CANARY}${s}`))),
);
const arbSpan = fc.record({
  traceId: fc.oneof(hex(32), hex(31), fc.constant('')),
  spanId: fc.oneof(hex(16), hex(15)),
  parentSpanId: fc.oneof(hex(16), fc.constant('')),
  name: fc.string(),
  kind: fc.integer({ min: 0, max: 7 }),
  startTimeUnixNano: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).map(String),
  endTimeUnixNano: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).map(String),
  attributes: fc.array(attribute, { maxLength: 8 }),
  status: fc.record({ code: fc.integer({ min: 0, max: 3 }) }),
});

test('fuzz: generated requests map alike from JSON and protobuf, rows are valid, off-list values never appear', () => {
  fc.assert(
    fc.property(fc.array(arbSpan, { maxLength: 6 }), (spans) => {
      const result = mapBoth(request(spans));
      const rejected = [...result.rejected.values()].reduce((a, b) => a + b, 0);
      assert.equal(result.rows.length + rejected, result.received);
      assert.ok(!JSON.stringify(result.rows).includes(CANARY));
      for (const row of result.rows) assert.ok(row.end_time >= row.start_time);
    }),
    { numRuns: 300 },
  );
});

test('fuzz: arbitrary bytes and arbitrary JSON never escape as anything but a malformed-request error', () => {
  // The decoder may refuse the bytes (the receiver answers 400); whatever it
  // does decode, the mapper must take without failing.
  const decodeAndMap = (bytes: Uint8Array) => {
    let decoded: unknown;
    try {
      decoded = ExportTraceServiceRequest.decode(bytes);
    } catch {
      return;
    }
    try {
      const result = mapExportRequest(decoded, ctx);
      for (const row of result.rows) assert.equal(validateRow(TABLES.spans, row), undefined);
    } catch (err) {
      assert.ok(err instanceof MalformedRequest, String(err));
    }
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), decodeAndMap), { numRuns: 2000 });
  // Valid protobuf with a byte changed decodes further before anything goes wrong.
  const valid = jsonToProtobuf(request([span({ attributes: [kv('http.route', str('/a'))] })]));
  fc.assert(
    fc.property(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 }), (at, value) => {
      const bytes = Uint8Array.from(valid);
      bytes[at] = value;
      decodeAndMap(bytes);
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      try {
        mapExportRequest({ resourceSpans: [{ scopeSpans: [{ spans: [value] }] }] }, ctx);
        mapExportRequest(value, ctx);
      } catch (err) {
        assert.ok(err instanceof MalformedRequest, String(err));
      }
    }),
    { numRuns: 1000 },
  );
});

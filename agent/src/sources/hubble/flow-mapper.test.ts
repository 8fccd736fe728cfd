// The Hubble flow mapping on hand-written flows: every protocol and event
// shape, the same row from protojson (export file) and from the wire (gRPC),
// the privacy allow-list, and fuzzing that no input crashes the mapper or
// yields a row the contract rejects.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { TABLES } from '../../contract/generated.ts';
import { recordId } from '../../contract/record-id.ts';
import { parseTimestampUs } from '../../contract/time.ts';
import { validateRow } from '../../contract/validate.ts';
import { OverlapDedupe } from './dedupe.ts';
import { decodeExportLine } from './export-line.ts';
import { type HubbleEvent, HubbleFlowMapper } from './flow-mapper.ts';
import { backoff } from './grpc-source.ts';
import { deserializeResponse, GetFlowsResponse } from './proto.ts';

type Json = Record<string, unknown>;

const T = '2026-11-25T07:00:01.123456789Z';
const T_US = parseTimestampUs(T)!;
const mapper = () => new HubbleFlowMapper({ node: 'node-a', source: 'hubble-export' });
const fallback = () => 'fallback-id';

function flowOf(event: HubbleEvent) {
  assert.equal(event.kind, 'flow', JSON.stringify(event));
  if (event.kind !== 'flow') throw new Error('unreachable');
  assert.equal(validateRow(TABLES.flows, event.row), undefined);
  return event.row;
}

/** protojson → the object protobufjs encodes. */
function toProto(flow: Json): Json {
  const out: Json = { ...flow };
  if (typeof flow.time === 'string') {
    const m = /^(.*?)(?:\.(\d{1,9}))?Z$/.exec(flow.time)!;
    out.time = { seconds: Math.floor(Date.parse(`${m[1]}Z`) / 1000), nanos: Number((m[2] ?? '').padEnd(9, '0')) };
  }
  if (typeof flow.is_reply === 'boolean') out.is_reply = { value: flow.is_reply };
  return out;
}

/** The flow sent over the wire and decoded, as the gRPC source sees it. */
function viaWire(flow: Json): Json {
  const bytes = GetFlowsResponse.encode(GetFlowsResponse.fromObject({ flow: toProto(flow) })).finish();
  const decoded = deserializeResponse(Buffer.from(bytes));
  assert.equal(decoded.error, undefined);
  return decoded.message;
}

const base = (extra: Json): Json => ({
  time: T,
  uuid: '6f1b7c2e-0d1a-4c1e-9b1f-2f6f0e9f4a11',
  verdict: 'FORWARDED',
  IP: { source: '10.244.1.7', destination: '10.244.2.9', ipVersion: 'IPv4' },
  source: {
    ID: 12,
    identity: 4711,
    namespace: 'shop',
    labels: ['k8s:app=shop', 'reserved:host'],
    pod_name: 'shop-1',
    workloads: [{ name: 'shop', kind: 'Deployment' }],
  },
  destination: { identity: 2, labels: ['reserved:world'] },
  node_name: 'prod/node-a',
  Type: 'L3_L4',
  traffic_direction: 'EGRESS',
  trace_observation_point: 'TO_STACK',
  ...extra,
});

const FIXTURES: Record<string, Json> = {
  tcp: base({ l4: { TCP: { source_port: 41000, destination_port: 8080, flags: { SYN: true, ACK: true } } } }),
  udp: base({ l4: { UDP: { source_port: 5353, destination_port: 53 } } }),
  icmpv4: base({ l4: { ICMPv4: { type: 8 } } }),
  icmpv6: base({
    IP: { source: 'fe80::64d8:8aff:fe72:fc14', destination: 'ff02::2', ipVersion: 'IPv6' },
    l4: { ICMPv6: { type: 133 } },
  }),
  sctp: base({ l4: { SCTP: { source_port: 3868, destination_port: 3868 } } }),
  dropped: base({
    verdict: 'DROPPED',
    drop_reason_desc: 'POLICY_DENIED',
    l4: { TCP: { source_port: 44916, destination_port: 80, flags: { SYN: true } } },
  }),
  http: base({
    Type: 'L7',
    is_reply: true,
    l7: {
      type: 'RESPONSE',
      latency_ns: '1250000',
      http: {
        code: 503,
        method: 'POST',
        url: 'http://cart.shop.svc:8080/api/v1/cart/42?coupon=SECRET-QUERY',
        protocol: 'HTTP/1.1',
        headers: [
          { key: 'X-Request-Id', value: 'req-1' },
          { key: 'X-B3-TraceId', value: '80f198ee56343ba864fe8b2a57d3eff7' },
          { key: 'X-B3-SpanId', value: 'e457b5a2e4d86bd1' },
          { key: 'Authorization', value: 'Bearer SECRET-TOKEN' },
        ],
      },
    },
    destination_service: { name: 'cart', namespace: 'shop' },
    source_service: { name: 'shop', namespace: 'shop' },
  }),
  dns: base({
    Type: 'L7',
    l4: { UDP: { source_port: 40000, destination_port: 53 } },
    l7: {
      type: 'RESPONSE',
      dns: { query: 'cart.shop.svc.cluster.local.', ips: ['10.96.0.42'], cnames: ['SECRET-CNAME.'], rcode: 0 },
    },
  }),
  traceContext: base({ trace_context: { parent: { trace_id: '4BF92F3577B34DA6A3CE929D0E0E4736' } } }),
  sockPre: base({
    Type: 'SOCK',
    verdict: 'TRACED',
    sock_xlate_point: 'SOCK_XLATE_POINT_PRE_DIRECTION_FWD',
    socket_cookie: '77',
    IP: { source: '', destination: '10.96.0.10', ipVersion: 'IPv4' },
    l4: { TCP: { destination_port: 80 } },
    destination_service: { name: 'cart', namespace: 'shop' },
  }),
};

test('each protocol and event shape maps to the expected columns', () => {
  const m = mapper();
  const tcp = flowOf(m.flow(FIXTURES.tcp!, undefined, fallback, 1));
  assert.equal(tcp.record_id, recordId('hubble-flow', FIXTURES.tcp!.uuid as string));
  assert.equal(tcp.flow_uuid, FIXTURES.tcp!.uuid);
  assert.equal(tcp.event_time, T_US, 'nanoseconds floored to microseconds');
  assert.deepEqual(
    [tcp.l4_protocol, tcp.src_port, tcp.dst_port, tcp.tcp_flags, tcp.verdict, tcp.drop_reason],
    ['TCP', 41000, 8080, 'SYN,ACK', 'FORWARDED', undefined],
  );
  assert.deepEqual(
    [tcp.src_namespace, tcp.src_pod, tcp.src_workload, tcp.src_identity, tcp.dst_identity],
    ['shop', 'shop-1', 'Deployment/shop', 4711, 2],
  );
  assert.deepEqual({ ...tcp.src_labels }, { 'k8s:app': 'shop', 'reserved:host': '' });
  assert.deepEqual(
    [tcp.traffic_direction, tcp.observation_point, tcp.event_type, tcp.reported_node, tcp.is_reply],
    ['EGRESS', 'TO_STACK', 'L3_L4', 'prod/node-a', undefined],
  );

  const udp = flowOf(m.flow(FIXTURES.udp!, undefined, fallback, 1));
  assert.deepEqual([udp.l4_protocol, udp.src_port, udp.dst_port, udp.tcp_flags], ['UDP', 5353, 53, undefined]);
  const icmp = flowOf(m.flow(FIXTURES.icmpv4!, undefined, fallback, 1));
  assert.deepEqual([icmp.l4_protocol, icmp.src_port, icmp.dst_port], ['ICMPv4', undefined, undefined]);
  const icmp6 = flowOf(m.flow(FIXTURES.icmpv6!, undefined, fallback, 1));
  assert.deepEqual([icmp6.l4_protocol, icmp6.src_ip, icmp6.dst_ip], ['ICMPv6', 'fe80::64d8:8aff:fe72:fc14', 'ff02::2']);
  const sctp = flowOf(m.flow(FIXTURES.sctp!, undefined, fallback, 1));
  assert.deepEqual([sctp.l4_protocol, sctp.src_port], ['SCTP', 3868]);
  const dropped = flowOf(m.flow(FIXTURES.dropped!, undefined, fallback, 1));
  assert.deepEqual([dropped.verdict, dropped.drop_reason, dropped.tcp_flags], ['DROPPED', 'POLICY_DENIED', 'SYN']);

  const http = flowOf(m.flow(FIXTURES.http!, undefined, fallback, 1));
  assert.deepEqual(
    [http.l7_type, http.l7_protocol, http.http_method, http.http_status, http.http_path, http.http_protocol],
    ['RESPONSE', 'http', 'POST', 503, '/api/v1/cart/42', 'HTTP/1.1'],
  );
  assert.deepEqual([http.l7_latency_us, http.request_id, http.is_reply], [1250, 'req-1', true]);
  assert.deepEqual([http.trace_id, http.span_id], ['80f198ee56343ba864fe8b2a57d3eff7', 'e457b5a2e4d86bd1']);
  assert.deepEqual(
    [http.dst_service_namespace, http.dst_service_name, http.src_service_namespace, http.src_service_name],
    ['shop', 'cart', 'shop', 'shop'],
  );

  const dns = flowOf(m.flow(FIXTURES.dns!, undefined, fallback, 1));
  assert.deepEqual([dns.l7_protocol, dns.dns_query, dns.l7_type], ['dns', 'cart.shop.svc.cluster.local.', 'RESPONSE']);
  const traced = flowOf(m.flow(FIXTURES.traceContext!, undefined, fallback, 1));
  assert.equal(traced.trace_id, '4bf92f3577b34da6a3ce929d0e0e4736');
});

test('the same flow from the wire and from the export file yields the same row', () => {
  for (const [name, flow] of Object.entries(FIXTURES)) {
    const fromJson = flowOf(mapper().flow(flow, undefined, fallback, 1));
    const fromWire = flowOf(mapper().event(viaWire(flow), fallback, 1));
    assert.deepEqual(normalize(fromWire), normalize(fromJson), name);
  }
});

/** Rows compared as data: absent and undefined alike, label maps as plain objects. */
function normalize(row: object): Json {
  return JSON.parse(JSON.stringify(row));
}

test('socket-LB translation events keep the Service address and the backend of one socket', () => {
  const m = mapper();
  const pre = flowOf(m.flow(FIXTURES.sockPre!, undefined, fallback, 1));
  assert.deepEqual(
    [pre.observation_point, pre.pre_translation_dst_ip, pre.pre_translation_dst_port, pre.dst_ip, pre.event_type],
    ['SOCK_PRE_XLATE_FWD', '10.96.0.10', 80, undefined, 'SOCK'],
  );
  const post = flowOf(
    m.flow(
      {
        ...FIXTURES.sockPre!,
        uuid: 'post',
        sock_xlate_point: 'SOCK_XLATE_POINT_POST_DIRECTION_FWD',
        IP: { destination: '10.244.3.17' },
        l4: { TCP: { destination_port: 8080 } },
      },
      undefined,
      fallback,
      1,
    ),
  );
  assert.deepEqual(
    [post.observation_point, post.pre_translation_dst_ip, post.pre_translation_dst_port, post.dst_ip, post.dst_port],
    ['SOCK_POST_XLATE_FWD', '10.96.0.10', 80, '10.244.3.17', 8080],
  );
  assert.equal(post.dst_service_name, 'cart');
  // Replies translate back: the backend first, then the Service address the socket sees.
  const revPre = flowOf(
    m.flow(
      {
        ...FIXTURES.sockPre!,
        uuid: 'rev-pre',
        socket_cookie: '78',
        sock_xlate_point: 'SOCK_XLATE_POINT_PRE_DIRECTION_REV',
        IP: { destination: '10.244.3.18' },
        l4: { UDP: { destination_port: 5353 } },
      },
      undefined,
      fallback,
      1,
    ),
  );
  assert.deepEqual([revPre.dst_ip, revPre.pre_translation_dst_ip], ['10.244.3.18', undefined]);
  const revPost = flowOf(
    m.flow(
      {
        ...FIXTURES.sockPre!,
        uuid: 'rev-post',
        socket_cookie: '78',
        sock_xlate_point: 'SOCK_XLATE_POINT_POST_DIRECTION_REV',
        IP: { destination: '10.96.0.10' },
        l4: { UDP: { destination_port: 53 } },
      },
      undefined,
      fallback,
      1,
    ),
  );
  assert.deepEqual(
    [revPost.observation_point, revPost.dst_ip, revPost.dst_port, revPost.pre_translation_dst_ip],
    ['SOCK_POST_XLATE_REV', '10.244.3.18', 5353, '10.96.0.10'],
  );
  // Another socket is never paired with these.
  const other = flowOf(
    m.flow(
      { ...FIXTURES.sockPre!, uuid: 'o', socket_cookie: '99', sock_xlate_point: 'SOCK_XLATE_POINT_POST_DIRECTION_FWD' },
      undefined,
      fallback,
      1,
    ),
  );
  assert.equal(other.pre_translation_dst_ip, undefined);
});

test('reply direction: is_reply when present, else only a true deprecated reply', () => {
  const m = mapper();
  const f = (extra: Json) => flowOf(m.flow(base(extra), undefined, fallback, 1)).is_reply;
  assert.equal(f({ reply: true }), true);
  assert.equal(f({ reply: false }), undefined, 'false cannot be told from absent');
  assert.equal(f({ is_reply: false, reply: true }), false, 'is_reply wins');
  assert.equal(f({ is_reply: true }), true);
  assert.equal(flowOf(m.event(viaWire(base({ is_reply: false })), fallback, 1)).is_reply, false);
  assert.equal(flowOf(m.event(viaWire(base({})), fallback, 1)).is_reply, undefined);
});

test('numbers stand in for enum names, as older Cilium and the protojson reader allow', () => {
  const row = flowOf(
    mapper().flow(
      base({ verdict: 2, drop_reason: 181, traffic_direction: 1, trace_observation_point: 101, Type: 1 }),
      undefined,
      fallback,
      1,
    ),
  );
  assert.deepEqual(
    [row.verdict, row.drop_reason, row.traffic_direction, row.observation_point, row.event_type],
    ['DROPPED', 'POLICY_DENY', 'INGRESS', 'TO_ENDPOINT', 'L3_L4'],
  );
  const unknown = flowOf(mapper().flow(base({ verdict: 'DROPPED', drop_reason: 250 }), undefined, fallback, 1));
  assert.equal(unknown.drop_reason, 'DROP_REASON_250');
});

test('only correlation headers, the path and the DNS query leave the mapper', () => {
  const m = mapper();
  const rows = [FIXTURES.http!, FIXTURES.dns!].map((f) => JSON.stringify(flowOf(m.flow(f, undefined, fallback, 1))));
  for (const text of rows) assert.equal(/SECRET/.test(text), false, text);
  const userinfo = flowOf(
    m.flow(
      base({ Type: 'L7', l7: { type: 'REQUEST', http: { method: 'GET', url: 'https://u:pw@h.example/p?q#f' } } }),
      undefined,
      fallback,
      1,
    ),
  );
  assert.equal(userinfo.http_path, '/p');
  assert.equal(JSON.stringify(userinfo).includes('pw@'), false);
});

test('labels named like Object properties are data', () => {
  const row = flowOf(
    mapper().flow(
      base({ source: { labels: ['__proto__=x', 'constructor=y', 'k8s:a=1', 'k8s:a=2'] } }),
      undefined,
      fallback,
      1,
    ),
  );
  assert.deepEqual(Object.entries(row.src_labels!), [
    ['__proto__', 'x'],
    ['constructor', 'y'],
    ['k8s:a', '1'],
  ]);
});

test('events that are not flows: lost events, relay node status, agent and debug events, garbage', () => {
  const m = mapper();
  assert.deepEqual(m.event({ lost_events: { source: 'HUBBLE_RING_BUFFER', num_events_lost: '12' } }, fallback, 1), {
    kind: 'lost',
    reason: 'hubble_ring_buffer',
    count: 12,
  });
  assert.deepEqual(m.event({ lost_events: { source: 1, num_events_lost: 3 } }, fallback, 1), {
    kind: 'lost',
    reason: 'perf_event_ring_buffer',
    count: 3,
  });
  assert.deepEqual(
    m.event({ node_status: { state_change: 'NODE_GONE', node_names: ['a', 'b'], message: 'bye' } }, fallback, 1),
    { kind: 'node_status', state: 'NODE_GONE', nodes: ['a', 'b'], message: 'bye' },
  );
  assert.deepEqual(m.event({ agent_event: { type: 'AGENT_STARTED' } }, fallback, 1), {
    kind: 'ignored',
    what: 'agent_event',
  });
  assert.deepEqual(m.event({ something: 1 }, fallback, 1), { kind: 'drop', reason: 'not_a_flow' });
  assert.deepEqual(m.flow({ verdict: 'FORWARDED' }, undefined, fallback, 1), { kind: 'drop', reason: 'no_event_time' });
  assert.deepEqual(m.flow({ time: 'yesterday' }, undefined, fallback, 1), {
    kind: 'drop',
    reason: 'invalid_event_time',
  });
});

test('export lines: the wrapped and the bare shapes; the wrapper supplies time and node', () => {
  const m = mapper();
  const { time: _t, node_name: _n, ...untimed } = FIXTURES.tcp!;
  const wrapped = flowOf(
    decodeExportLine(JSON.stringify({ flow: untimed, node_name: 'prod/node-b', time: T }), m, fallback, 1),
  );
  assert.deepEqual([wrapped.event_time, wrapped.reported_node], [T_US, 'prod/node-b']);
  const { uuid: _u, ...bare } = FIXTURES.udp!;
  const row = flowOf(decodeExportLine(JSON.stringify(bare), m, () => 'position-id', 1));
  assert.deepEqual([row.record_id, row.flow_uuid, row.l4_protocol], ['position-id', undefined, 'UDP']);
  assert.deepEqual(decodeExportLine('{"flow":', m, fallback, 1), { kind: 'drop', reason: 'invalid_json' });
  assert.deepEqual(decodeExportLine('[1,2]', m, fallback, 1), { kind: 'drop', reason: 'not_a_flow' });
  assert.deepEqual(decodeExportLine('{"hello":"world"}', m, fallback, 1), { kind: 'drop', reason: 'not_a_flow' });
});

test('fuzz: no JSON line crashes the export decoder, and every flow it yields fits the contract', () => {
  const m = mapper();
  fc.assert(
    fc.property(fc.jsonValue(), fc.boolean(), (value, wrap) => {
      const line = JSON.stringify(wrap ? { flow: value, time: T } : value);
      const event = decodeExportLine(line, m, fallback, 1);
      if (event.kind === 'flow') assert.equal(validateRow(TABLES.flows, event.row), undefined);
    }),
    { numRuns: 2000 },
  );
});

/** Any value, including the right shapes at the right keys. */
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.bigInt().map(String),
  fc.array(fc.string(), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string(), fc.integer(), fc.boolean()), { maxKeys: 4 }),
);

const flowArb = fc.record(
  {
    time: fc.oneof(
      fc.constant(T),
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      anyValue,
    ),
    uuid: fc.oneof(fc.uuid(), anyValue),
    verdict: fc.oneof(
      fc.constantFrom('FORWARDED', 'DROPPED', 'TRANSLATED'),
      fc.integer({ min: -5, max: 20 }),
      anyValue,
    ),
    drop_reason: anyValue,
    drop_reason_desc: anyValue,
    IP: fc.oneof(
      fc.record({ source: fc.oneof(fc.ipV4(), fc.ipV6(), anyValue), destination: fc.oneof(fc.ipV4(), anyValue) }),
      anyValue,
    ),
    l4: fc.oneof(
      fc.record({
        TCP: fc.record({
          source_port: fc.oneof(fc.integer({ min: -1, max: 70_000 }), anyValue),
          destination_port: anyValue,
          flags: fc.oneof(fc.dictionary(fc.constantFrom('SYN', 'ACK', 'FIN', 'RST'), anyValue), anyValue),
        }),
      }),
      fc.record({ UDP: fc.record({ source_port: anyValue, destination_port: anyValue }) }),
      anyValue,
    ),
    source: fc.oneof(
      fc.record({
        labels: fc.array(fc.oneof(fc.string(), anyValue)),
        pod_name: anyValue,
        identity: anyValue,
        workloads: anyValue,
      }),
      anyValue,
    ),
    destination: anyValue,
    Type: anyValue,
    l7: fc.oneof(
      fc.record({
        type: anyValue,
        latency_ns: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n }).map(String), anyValue),
        http: fc.oneof(
          fc.record({
            code: anyValue,
            method: anyValue,
            url: fc.oneof(fc.webUrl({ withQueryParameters: true, withFragments: true }), anyValue),
            headers: fc.array(
              fc.oneof(
                fc.record({ key: fc.constantFrom('traceparent', 'X-Request-Id', 'b3'), value: fc.string() }),
                anyValue,
              ),
            ),
          }),
          anyValue,
        ),
        dns: fc.oneof(fc.record({ query: anyValue }), anyValue),
      }),
      anyValue,
    ),
    reply: anyValue,
    is_reply: anyValue,
    sock_xlate_point: fc.oneof(fc.integer({ min: 0, max: 5 }), anyValue),
    socket_cookie: anyValue,
    trace_context: anyValue,
    node_name: anyValue,
    source_service: anyValue,
    destination_service: anyValue,
    trace_observation_point: anyValue,
    traffic_direction: anyValue,
  },
  { requiredKeys: [] },
);

test('fuzz: flows with any value at any known key never crash the mapper and always fit the contract', () => {
  const m = mapper();
  fc.assert(
    fc.property(flowArb, (flow) => {
      const event = m.flow(flow, undefined, fallback, 1);
      if (event.kind === 'flow') assert.equal(validateRow(TABLES.flows, event.row), undefined);
      else assert.equal(event.kind, 'drop');
    }),
    { numRuns: 3000 },
  );
});

const encodedFixtures = Object.values(FIXTURES).map((f) =>
  GetFlowsResponse.encode(GetFlowsResponse.fromObject({ flow: toProto(f) })).finish(),
);

/** Random bytes, and real responses with bytes flipped, cut or spliced. */
const wireArb = fc.oneof(
  fc.uint8Array({ maxLength: 512 }),
  fc
    .tuple(
      fc.constantFrom(...encodedFixtures),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      fc.nat(),
    )
    .map(([bytes, flips, cut]) => {
      const copy = Uint8Array.from(bytes);
      for (const [at, value] of flips) copy[at % copy.length] = value;
      return cut % 3 === 0 ? copy.subarray(0, cut % copy.length) : copy;
    }),
);

test('fuzz: arbitrary bytes from the wire never throw in the decoder or the mapper', () => {
  const m = mapper();
  let decodedFlows = 0;
  fc.assert(
    fc.property(wireArb, (bytes) => {
      const decoded = deserializeResponse(Buffer.from(bytes));
      if (decoded.error !== undefined) return;
      const event = m.event(decoded.message, fallback, 1);
      if (event.kind === 'flow') {
        decodedFlows++;
        assert.equal(validateRow(TABLES.flows, event.row), undefined);
      }
    }),
    { numRuns: 3000 },
  );
  assert.ok(decodedFlows > 100, `mutated responses still decode to flows (${decodedFlows})`);
});

test('overlap dedupe remembers only what a resume can replay, and at most its bound', () => {
  const d = new OverlapDedupe(1000, 5);
  assert.equal(d.admit('a', 10_000), true);
  assert.equal(d.admit('a', 10_000), false);
  assert.equal(d.admit('b', 10_500), true);
  assert.equal(d.admit('c', 11_200), true, 'a (10 000) is now older than newest - window');
  assert.equal(d.has('a'), false);
  assert.equal(d.has('b'), true);
  for (let i = 0; i < 10; i++) d.admit(`x${i}`, 11_200 + i);
  assert.equal(d.size, 5);
  assert.equal(d.newest, 11_209);
});

test('reconnect backoff grows to its cap with jitter in [½, 1] of the step', () => {
  for (let attempt = 0; attempt < 40; attempt++) {
    const step = Math.min(30_000, 500 * 2 ** attempt);
    const d = backoff(500, 30_000, attempt);
    assert.ok(d >= step / 2 && d <= step, `attempt ${attempt}: ${d}`);
  }
});

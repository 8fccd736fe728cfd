// Calico flow-log records → `flows` rows: aggregation placeholders, both time
// key spellings, endpoint kinds, Service and policy fields; fuzzing that no
// record crashes the mapper or yields a row the contract rejects.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type FlowRow, TABLES } from '../../contract/generated.ts';
import { validateRow } from '../../contract/validate.ts';
import { mapCalicoFlowLog } from './flow-log.ts';

const ctx = { node: 'node-a', source: 'calico', recordId: 'rid', observedUs: 1 };
const START = 1_795_590_000; // 2026-11-25T07:00:00Z
const END = START + 300;

function rowOf(record: unknown): FlowRow {
  const result = mapCalicoFlowLog(record, ctx);
  assert.ok('row' in result, JSON.stringify(result));
  assert.equal(validateRow(TABLES.flows, result.row), undefined);
  return result.row;
}

const record = (extra: Record<string, unknown> = {}) => ({
  start_time: START,
  end_time: END,
  source_ip: '10.244.1.9',
  source_name: 'access-6b687c8dcb-zn5s2',
  source_name_aggr: 'access-6b687c8dcb-*',
  source_namespace: 'policy-demo',
  source_port: 42106,
  source_type: 'wep',
  source_labels: { labels: ['pod-template-hash=6b687c8dcb', 'app=access'] },
  dest_ip: '10.244.2.79',
  dest_name: 'nginx-86c57db685-h6792',
  dest_name_aggr: 'nginx-86c57db685-*',
  dest_namespace: 'policy-demo',
  dest_port: 80,
  dest_type: 'wep',
  dest_labels: { labels: ['app=nginx'] },
  dest_service_namespace: 'policy-demo',
  dest_service_name: 'nginx',
  dest_service_port: 'http',
  dest_service_port_num: 8080,
  proto: 'tcp',
  action: 'allow',
  reporter: 'dst',
  policies: {
    all_policies: ['0|default|policy-demo/default.access-nginx|allow|2', '1|tier2|ns2/staged:tier1.p|deny|1'],
    enforced_policies: ['0|default|policy-demo/default.access-nginx|allow|2'],
    pending_policies: ['0|tier2|ns2/staged:tier1.p|deny|1'],
  },
  bytes_in: 388,
  bytes_out: 1113,
  num_flows: 1,
  packets_in: 6,
  packets_out: 5,
  host: 'node-a',
  ...extra,
});

test('a per-connection record keeps addresses, endpoints, Service, counters and enforced policies', () => {
  const r = rowOf(record());
  assert.equal(r.event_time, END * 1e6, 'event time is the interval end');
  assert.deepEqual([r.flow_start_time, r.flow_end_time], [START * 1e6, END * 1e6]);
  assert.deepEqual(
    [r.src_ip, r.src_port, r.dst_ip, r.dst_port, r.l4_protocol],
    ['10.244.1.9', 42106, '10.244.2.79', 80, 'TCP'],
  );
  assert.deepEqual(
    [r.verdict, r.traffic_direction, r.observation_point, r.event_type],
    ['FORWARDED', 'INGRESS', 'REPORTER_DST', 'AGGREGATED'],
  );
  assert.deepEqual(
    [r.src_namespace, r.src_pod, r.dst_pod],
    ['policy-demo', 'access-6b687c8dcb-zn5s2', 'nginx-86c57db685-h6792'],
  );
  assert.deepEqual({ ...r.src_labels }, { 'pod-template-hash': '6b687c8dcb', app: 'access' });
  assert.deepEqual(
    [r.dst_service_namespace, r.dst_service_name, r.pre_translation_dst_port],
    ['policy-demo', 'nginx', 8080],
  );
  assert.deepEqual([r.bytes_in, r.bytes_out, r.packets_in, r.packets_out, r.flow_count], [388, 1113, 6, 5, 1]);
  assert.deepEqual(r.policies, ['0|default|policy-demo/default.access-nginx|allow|2']);
  assert.equal(r.reported_node, 'node-a');
});

test('aggregated records: null and `-` fields are empty, pod-name prefixes are kept, denials are drops', () => {
  const r = rowOf(
    record({
      source_ip: null,
      source_port: null,
      source_name: '-',
      dest_ip: null,
      dest_name: '-',
      dest_port: '-',
      source_labels: { labels: ['-'] },
      dest_service_namespace: '-',
      dest_service_name: '-',
      dest_service_port_num: null,
      action: 'deny',
      reporter: 'src',
      num_flows: 17,
    }),
  );
  assert.deepEqual([r.src_ip, r.src_port, r.dst_ip, r.dst_port], [undefined, undefined, undefined, undefined]);
  assert.deepEqual([r.src_pod, r.dst_pod], ['access-6b687c8dcb-*', 'nginx-86c57db685-*']);
  assert.equal(r.src_labels, undefined);
  assert.deepEqual([r.dst_service_name, r.pre_translation_dst_port], [undefined, undefined]);
  assert.deepEqual([r.verdict, r.traffic_direction, r.flow_count], ['DROPPED', 'EGRESS', 17]);
});

test('camelCase time keys, RFC 3339 and millisecond times are accepted; no time is a counted drop', () => {
  const { start_time: _s, end_time: _e, ...untimed } = record();
  assert.equal(rowOf({ ...untimed, startTime: START, endTime: END }).event_time, END * 1e6);
  assert.equal(rowOf({ ...untimed, end_time: '2026-11-25T07:05:00Z' }).event_time, END * 1e6);
  assert.equal(rowOf({ ...untimed, end_time: END * 1000 }).event_time, END * 1e6);
  assert.equal(rowOf({ ...untimed, start_time: String(START) }).event_time, START * 1e6, 'start when no end');
  assert.deepEqual(mapCalicoFlowLog(untimed, ctx), { drop: 'no_event_time' });
  assert.deepEqual(mapCalicoFlowLog({ ...untimed, end_time: 'soon' }, ctx), { drop: 'invalid_event_time' });
  assert.deepEqual(mapCalicoFlowLog([1, 2], ctx), { drop: 'not_a_flow_log' });
});

test('host endpoints, network sets and networks are not pods', () => {
  const r = rowOf(
    record({
      source_type: 'net',
      source_name: '-',
      source_name_aggr: 'pub',
      source_namespace: '-',
      dest_type: 'hep',
      dest_name: 'node-a-eth0',
    }),
  );
  assert.deepEqual([r.src_pod, r.src_workload, r.src_namespace], [undefined, 'Network/pub', undefined]);
  assert.deepEqual([r.dst_pod, r.dst_workload], [undefined, 'HostEndpoint/node-a-eth0']);
  const ns = rowOf(record({ dest_type: 'ns', dest_name: '-', dest_name_aggr: 'external-apis' }));
  assert.equal(ns.dst_workload, 'NetworkSet/external-apis');
});

test('protocols by name or number; older records without enforced_policies use all_policies', () => {
  assert.equal(rowOf(record({ proto: 'udp' })).l4_protocol, 'UDP');
  assert.equal(rowOf(record({ proto: 17 })).l4_protocol, 'UDP');
  assert.equal(rowOf(record({ proto: 'icmp6' })).l4_protocol, 'ICMPv6');
  assert.equal(rowOf(record({ proto: 'sctp' })).l4_protocol, 'SCTP');
  assert.equal(rowOf(record({ proto: 'constructor' })).l4_protocol, 'CONSTRUCTOR');
  const older = rowOf(record({ policies: { all_policies: ['0|t|p|allow|0'] } }));
  assert.deepEqual(older.policies, ['0|t|p|allow|0']);
  assert.equal(rowOf(record({ action: 'constructor', reporter: 'toString' })).verdict, 'VERDICT_UNKNOWN');
});

const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.string(),
  fc.constantFrom('-', '*', 'null', '', 'constructor', '__proto__'),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(fc.string(), fc.integer()), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string(), fc.array(fc.string())), { maxKeys: 3 }),
);
const KEYS = Object.keys(record()).concat(['startTime', 'endTime']);

test('fuzz: no record crashes the mapper, and every row it yields fits the contract', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.constantFrom(...KEYS), anyValue), fc.boolean(), (overrides, keepTimes) => {
      const input = keepTimes ? { ...overrides, end_time: END } : overrides;
      const result = mapCalicoFlowLog(input, ctx);
      if ('row' in result) assert.equal(validateRow(TABLES.flows, result.row), undefined);
      else assert.ok(['no_event_time', 'invalid_event_time', 'not_a_flow_log'].includes(result.drop));
    }),
    { numRuns: 3000 },
  );
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      const result = mapCalicoFlowLog(value, ctx);
      if ('row' in result) assert.equal(validateRow(TABLES.flows, result.row), undefined);
    }),
    { numRuns: 1000 },
  );
});

// The file flow sources on real files through a real agent: the Hubble export
// file (wrapped and bare flows, lost events and node status, rotation,
// restart from the committed checkpoint, privacy) and Calico flow logs,
// landed as Parquet and read back by pyarrow.
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Agent } from '../agent/src/agent.ts';
import { recordId } from '../agent/src/contract/record-id.ts';
import { silentLogger } from '../agent/src/ops/logger.ts';
import { readLanded, testConfig } from './support/agent.ts';
import { formatNanos, type Json, tcpFlow } from './support/hubble-flows.ts';
import { runPython } from './support/python.ts';
import { tempDir } from './support/tmp.ts';

const T0 = Date.UTC(2026, 10, 25, 7, 0, 0) * 1000;
const line = (o: unknown) => `${JSON.stringify(o)}\n`;
const wrapped = (flow: Json) => line({ flow, node_name: 'default/node-a', time: flow.time });

async function drainAgent(dir: string, sources: Record<string, unknown>[]) {
  const agent = new Agent(testConfig(dir, { encode: { compression: 'none' }, sources }), { logger: silentLogger });
  await agent.start('drain');
  await agent.drain();
  return agent;
}

function rowsOf(root: string, table = 'flows'): Promise<Record<string, unknown>[]> {
  return runPython(
    `
import glob, json, sys
import pyarrow.parquet as pq
rows = []
for p in sorted(glob.glob(sys.argv[1] + '/**/' + sys.argv[2] + '/**/*.parquet', recursive=True)):
    rows += pq.read_table(p).to_pylist()
print(json.dumps(rows, default=str))
`,
    [root, table],
  );
}

function parquetBytes(root: string): Buffer {
  return Buffer.concat(
    readdirSync(root, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.parquet'))
      .map((f) => readFileSync(join(root, f))),
  );
}

test('Hubble export file: both line shapes, in-file losses, rotation, restart without re-reading, no canaries', async () => {
  const dir = tempDir();
  const hubbleDir = join(dir, 'hubble');
  mkdirSync(hubbleDir);
  const rotated = join(hubbleDir, 'events-2026-11-25T06-59-59.000.log');
  const current = join(hubbleDir, 'events.log');
  writeFileSync(rotated, Array.from({ length: 50 }, (_, i) => wrapped(tcpFlow(i, T0 + i))).join(''));
  const { uuid: _u, ...bare } = tcpFlow(50, T0 + 50, { l4: { UDP: { source_port: 5353, destination_port: 53 } } });
  const secretL7 = tcpFlow(51, T0 + 51, {
    Type: 'L7',
    l7: {
      type: 'REQUEST',
      http: {
        method: 'GET',
        url: 'http://cart:8080/api/cart?session=CANARY_QUERY',
        headers: [
          { key: 'Cookie', value: 'CANARY_COOKIE' },
          { key: 'X-Request-Id', value: 'export-req-kept' },
        ],
      },
    },
    Summary: 'HTTP/1.1 GET http://cart:8080/api/cart?session=CANARY_SUMMARY',
  });
  const dnsAnswer = tcpFlow(52, T0 + 52, {
    Type: 'L7',
    l7: { type: 'RESPONSE', dns: { query: 'kept.example.', ips: ['203.0.113.99'], cnames: ['canary-cname.example.'] } },
  });
  const { time: _t, ...untimed } = tcpFlow(53, T0 + 53);
  writeFileSync(
    current,
    [
      line(bare),
      wrapped(secretL7),
      wrapped(dnsAnswer),
      line({ lost_events: { source: 'HUBBLE_RING_BUFFER', num_events_lost: '5' }, time: formatNanos(T0) }),
      line({ node_status: { state_change: 'NODE_ERROR', node_names: ['node-x'] }, time: formatNanos(T0) }),
      line({ agent_event: { type: 'AGENT_STARTED' }, time: formatNanos(T0) }),
      '{"flow":{"time":\n',
      line({ hello: 'world' }),
      line(untimed),
    ].join(''),
  );
  const source = {
    type: 'hubble-export',
    include: [current, join(hubbleDir, 'events-*.log')],
    start_at: 'beginning',
  };
  const first = await drainAgent(dir, [source]);
  const landed = await readLanded(`${dir}/landing`);
  const ids = landed.tables.flows!.record_ids;
  assert.equal(ids.length, 53, '50 rotated + bare + L7 + DNS');
  assert.equal(new Set(ids).size, 53);
  for (let i = 0; i < 50; i++) assert.ok(ids.includes(recordId('hubble-flow', `flow-${i}`)));
  assert.deepEqual(
    first.metrics.losses().map(({ reason, count }) => [reason, count]),
    [
      ['hubble_ring_buffer', 5],
      ['node_error', 1],
    ],
  );
  assert.deepEqual(
    first.metrics.drops().map(({ source: s, reason, count }) => [s, reason, count]),
    [
      ['hubble-export', 'invalid_json', 1],
      ['hubble-export', 'no_event_time', 1],
      ['hubble-export', 'not_a_flow', 1],
    ],
  );
  const rows = await rowsOf(`${dir}/landing`);
  const udp = rows.find((r) => r.l4_protocol === 'UDP')!;
  assert.equal(udp.flow_uuid, null);
  assert.equal(udp.source, 'hubble-export');
  const dns = rows.find((r) => r.l7_protocol === 'dns')!;
  assert.equal(dns.dns_query, 'kept.example.');
  const bytes = parquetBytes(`${dir}/landing`);
  assert.ok(bytes.includes('export-req-kept') && bytes.includes('kept.example.'), 'kept values are visible');
  for (const secret of ['CANARY', 'canary-cname', '203.0.113.99'])
    assert.equal(bytes.includes(secret), false, `${secret} never lands`);

  // More lines after a restart: only they are read (the checkpoint was committed with the spool).
  appendFileSync(current, wrapped(tcpFlow(60, T0 + 60)) + wrapped(tcpFlow(61, T0 + 61)));
  await drainAgent(dir, [source]);
  const again = (await readLanded(`${dir}/landing`)).tables.flows!.record_ids;
  assert.equal(again.length, 55);
  assert.equal(new Set(again).size, 55);
});

test('Calico flow logs: aggregated records with placeholders, both time spellings, counted drops', async () => {
  const dir = tempDir();
  const calicoDir = join(dir, 'flowlogs');
  mkdirSync(calicoDir);
  const base = {
    start_time: 1_795_590_000,
    end_time: 1_795_590_300,
    source_ip: '10.244.1.9',
    source_name: 'shop-7d9f8c6b5-x2x9q',
    source_name_aggr: 'shop-7d9f8c6b5-*',
    source_namespace: 'shop',
    source_port: 42106,
    source_type: 'wep',
    source_labels: { labels: ['app=shop'] },
    dest_ip: '10.244.2.79',
    dest_name: 'cart-5f6d7c8b9-k4k2m',
    dest_name_aggr: 'cart-5f6d7c8b9-*',
    dest_namespace: 'cart',
    dest_port: 8080,
    dest_type: 'wep',
    dest_labels: { labels: ['app=cart'] },
    dest_service_namespace: 'cart',
    dest_service_name: 'cart',
    dest_service_port: 'http',
    dest_service_port_num: 80,
    proto: 'tcp',
    action: 'allow',
    reporter: 'src',
    policies: { enforced_policies: ['0|default|cart/default.allow-shop|allow|0'] },
    bytes_in: 100,
    bytes_out: 200,
    packets_in: 3,
    packets_out: 4,
    num_flows: 1,
  };
  const { start_time: _s, end_time: _e, ...untimed } = base;
  writeFileSync(
    join(calicoDir, 'flows.log'),
    [
      line(base),
      line({
        ...base,
        source_ip: null,
        source_port: null,
        source_name: '-',
        dest_ip: null,
        dest_name: '-',
        action: 'deny',
        num_flows: 9,
      }),
      line({ ...untimed, startTime: 1_795_590_300, endTime: 1_795_590_600 }),
      '{"start_time": 1795590000,\n',
      line(untimed),
    ].join(''),
  );
  const agent = await drainAgent(dir, [
    { type: 'calico', include: [join(calicoDir, 'flows.log')], start_at: 'beginning' },
  ]);
  const rows = (await rowsOf(`${dir}/landing`)).sort((a, b) =>
    String(a.event_time).localeCompare(String(b.event_time)),
  );
  assert.equal(rows.length, 3);
  const denied = rows.find((r) => r.verdict === 'DROPPED')!;
  assert.deepEqual(
    [denied.src_ip, denied.src_pod, denied.dst_pod, denied.flow_count],
    [null, 'shop-7d9f8c6b5-*', 'cart-5f6d7c8b9-*', 9],
  );
  const allowed = rows.find((r) => r.verdict === 'FORWARDED' && r.src_ip)!;
  assert.deepEqual(
    [allowed.source, allowed.event_type, allowed.traffic_direction, allowed.pre_translation_dst_port, allowed.policies],
    ['calico', 'AGGREGATED', 'EGRESS', 80, ['0|default|cart/default.allow-shop|allow|0']],
  );
  assert.ok(String(allowed.flow_start_time).startsWith('2026-11-25 07:00:00'));
  assert.ok(String(rows[2]!.flow_end_time).startsWith('2026-11-25 07:10:00'), 'camelCase times');
  assert.deepEqual(
    agent.metrics.drops().map(({ reason, count }) => [reason, count]),
    [
      ['invalid_json', 1],
      ['no_event_time', 1],
    ],
  );
});

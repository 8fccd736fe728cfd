// The Hubble Observer client against a real gRPC server on a unix socket:
// streams land as Parquet (read back by pyarrow), ended/failed/restarted
// streams are resumed without gaps or duplicates, Hubble's lost events and
// relay node status reach the metrics and the heartbeat, and a full spool
// pushes back through HTTP/2 flow control to the server.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { Agent } from '../agent/src/agent.ts';
import { recordId } from '../agent/src/contract/record-id.ts';
import { nowUs } from '../agent/src/contract/time.ts';
import { silentLogger } from '../agent/src/ops/logger.ts';
import type { AgentMetrics } from '../agent/src/ops/metrics.ts';
import { readLanded, testConfig, until } from './support/agent.ts';
import { GatedStore } from './support/gated-store.ts';
import { flowResponse, type Json, tcpFlow } from './support/hubble-flows.ts';
import { HubbleTestServer } from './support/hubble-server.ts';
import { runPython } from './support/python.ts';

const BASE_US = nowUs() - 30 * 60 * 1_000_000;
const at = (i: number) => BASE_US + i * 1000;
const flows = (from: number, to: number, extra: (i: number) => Json = () => ({})): Json[] =>
  Array.from({ length: to - from }, (_, k) => flowResponse(tcpFlow(from + k, at(from + k), extra(from + k))));
const idOf = (i: number) => recordId('hubble-flow', `flow-${i}`);

async function counted(metrics: AgentMetrics, kind: string, source = 'hubble-grpc'): Promise<number> {
  const m = await metrics.hubbleEvents.get();
  return m.values.filter((v) => v.labels.kind === kind && v.labels.source === source).reduce((n, v) => n + v.value, 0);
}

async function eventually(check: () => Promise<boolean>, what: string, limitMs = 60_000): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > limitMs) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function hubbleSource(address: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'hubble',
    address,
    initial_lookback: '1h',
    resume_overlap: '100ms',
    reconnect_backoff_initial: '20ms',
    reconnect_backoff_max: '200ms',
    batch_size: 100,
    batch_delay: '20ms',
    ...extra,
  };
}

const hubbleConfig = (dir: string, address: string, extra: Record<string, unknown> = {}) =>
  testConfig(dir, { sources: [hubbleSource(address, extra)] });

/** A spool of 24 KiB behind a store the test holds closed. */
const boundedConfig = (dir: string, address: string) =>
  testConfig(dir, {
    spool: { dir: `${dir}/spool`, max_bytes: '24KiB' },
    buffer: { max_bytes: '256KiB' },
    batch: { max_rows: 500 },
    sources: [hubbleSource(address, { batch_size: 200 })],
  });

/**
 * A temporary directory and the agent/server using it, stopped before the
 * directory is removed — also when an assertion failed mid-test.
 */
function workspace(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'hoptrace-hubble-'));
  const running: { agent?: Agent; server?: HubbleTestServer; store?: GatedStore } = {};
  t.after(async () => {
    running.store?.open();
    await running.agent?.stop(60_000);
    await running.server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, running };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface HeartbeatLosses {
  losses: { table: string; source: string; reason: string; count: number }[];
}

function lastHeartbeat(root: string): Promise<HeartbeatLosses> {
  return runPython<HeartbeatLosses>(
    `
import glob, json, sys
import pyarrow.parquet as pq
rows = []
for p in glob.glob(sys.argv[1] + '/**/agent_heartbeats/**/*.parquet', recursive=True):
    rows += pq.read_table(p).to_pylist()
last = max(rows, key=lambda r: r['heartbeat_seq'])
print(json.dumps({'losses': last['losses']}))
`,
    [root],
  );
}

test('flows stream into Parquet; ended, failed and restarted streams resume without gaps or duplicates; losses reach the heartbeat', async (t) => {
  const { dir, running } = workspace(t);
  const server = await HubbleTestServer.start(join(dir, 'hubble.sock'));
  server.publish(flows(0, 200));
  const config = hubbleConfig(dir, server.address, {
    whitelist: [{ source_pod: ['shop/'], verdict: ['FORWARDED', 'DROPPED'] }],
    blacklist: [{ destination_port: ['53'] }],
    field_mask: ['source.pod_name', 'destination.pod_name', 'IP', 'l4'],
  });
  const agent = new Agent(config, { logger: silentLogger });
  await agent.start('follow');
  Object.assign(running, { agent, server });
  const received = (n: number) => eventually(async () => (await counted(agent.metrics, 'flow')) >= n, `${n} flows`);
  try {
    await received(200);
    const first = server.requests[0]!;
    assert.equal(first.follow, true);
    assert.deepEqual(first.whitelist, [{ source_pod: ['shop/'], verdict: ['FORWARDED', 'DROPPED'] }]);
    assert.deepEqual(first.blacklist, [{ destination_port: ['53'] }]);
    assert.deepEqual((first.field_mask as { paths: string[] }).paths.sort(), [
      'IP',
      'destination.pod_name',
      'l4',
      'source.pod_name',
      'time',
      'uuid',
    ]);

    // The server ends the stream (status OK): the client calls again from shortly before the newest flow.
    server.endStreams();
    server.publish(flows(200, 400));
    await received(400);
    const resumed = server.requests[1]!.since as { seconds: string; nanos: number };
    const sinceUs = Number(resumed.seconds) * 1e6 + resumed.nanos / 1000;
    assert.equal(sinceUs, at(199) - 100_000, 'resumed 100ms (resume_overlap) before the newest flow received');

    // In-band losses: Hubble's ring buffer and a relay node that went away.
    await until(() => server.activeStreams > 0, 'a stream');
    server.broadcast({ lost_events: { source: 'HUBBLE_RING_BUFFER', num_events_lost: 7 } });
    server.broadcast({ node_status: { state_change: 'NODE_UNAVAILABLE', node_names: ['node-b', 'node-c'] } });
    await eventually(async () => (await counted(agent.metrics, 'node_status')) >= 1, 'node status');

    // A failed stream, then a restarted server that kept its buffer.
    server.failStreams(grpc.status.UNAVAILABLE);
    server.publish(flows(400, 600));
    await received(600);
    await server.restart({ keepBuffer: true });
    server.publish(flows(600, 800));
    await received(800);

    // Cilium restarts and loses its buffer, with flows the client never saw: a gap, reported.
    await server.stop();
    server.publish(flows(800, 900));
    await server.restart({ keepBuffer: false });
    server.publish(flows(900, 1000));
    await received(900);
    assert.ok((await counted(agent.metrics, 'duplicate')) >= 300, 'every resume replayed its overlap');
  } finally {
    await agent.stop();
    await server.stop();
  }

  const landed = await readLanded(`${dir}/landing`);
  const ids = landed.tables.flows!.record_ids;
  const expected = [
    ...Array.from({ length: 800 }, (_, i) => idOf(i)),
    ...Array.from({ length: 100 }, (_, i) => idOf(900 + i)),
  ];
  assert.equal(ids.length, expected.length, 'no duplicates landed');
  assert.deepEqual(new Set(ids), new Set(expected), 'no gaps except the flows Hubble lost');

  const losses = agent.metrics.losses().map(({ source, reason, count }) => ({ source, reason, count }));
  assert.deepEqual(losses, [
    { source: 'hubble-grpc', reason: 'hubble_ring_buffer', count: 7 },
    { source: 'hubble-grpc', reason: 'node_unavailable', count: 2 },
    { source: 'hubble-grpc', reason: 'resume_gap', count: 1 },
  ]);
  const heartbeat = await lastHeartbeat(`${dir}/landing`);
  assert.deepEqual(
    heartbeat.losses.map(({ source, reason, count }) => ({ source, reason, count })),
    losses,
    'the heartbeat carries the same losses',
  );
  assert.deepEqual(agent.metrics.drops(), []);
});

test('landed rows carry the mapped flow, read back from Parquet', async (t) => {
  const { dir, running } = workspace(t);
  const server = await HubbleTestServer.start(join(dir, 'hubble.sock'));
  server.publish(flows(0, 3));
  const agent = new Agent(hubbleConfig(dir, server.address), { logger: silentLogger });
  await agent.start('follow');
  Object.assign(running, { agent, server });
  try {
    await eventually(async () => (await counted(agent.metrics, 'flow')) >= 3, '3 flows');
  } finally {
    await agent.stop();
    await server.stop();
  }
  const rows = await runPython<Record<string, unknown>[]>(
    `
import glob, json, sys
import pyarrow.parquet as pq
rows = []
for p in sorted(glob.glob(sys.argv[1] + '/**/flows/**/*.parquet', recursive=True)):
    rows += pq.read_table(p).to_pylist()
rows.sort(key=lambda r: r['flow_uuid'])
print(json.dumps(rows, default=str))
`,
    [`${dir}/landing`],
  );
  assert.equal(rows.length, 3);
  const r = rows[0]!;
  assert.equal(r.record_id, idOf(0));
  assert.equal(r.source, 'hubble-grpc');
  assert.equal(r.node, 'node-a');
  assert.equal(r.src_ip, '10.244.1.2');
  assert.equal(r.dst_port, 8080);
  assert.equal(r.l4_protocol, 'TCP');
  assert.equal(r.tcp_flags, 'SYN,ACK');
  assert.equal(r.verdict, 'FORWARDED');
  assert.equal(r.observation_point, 'TO_STACK');
  assert.equal(r.traffic_direction, 'EGRESS');
  assert.equal(r.is_reply, false);
  assert.equal(r.src_pod, 'shop-7d9f8c6b5-x2x9q');
  assert.equal(r.dst_workload, 'Deployment/cart');
  assert.equal(r.src_identity, 41230);
  assert.equal(r.reported_node, 'default/node-a');
  assert.deepEqual(r.src_labels, [
    ['k8s:app', 'shop'],
    ['k8s:io.kubernetes.pod.namespace', 'shop'],
    ['k8s:io.cilium.k8s.policy.cluster', 'default'],
  ]);
  assert.ok(String(r.event_time).startsWith(new Date(at(0) / 1000).toISOString().slice(0, 19).replace('T', ' ')));
});

test('a full spool stops reading the stream: the server feels HTTP/2 backpressure, memory stays bounded, nothing is lost', async (t) => {
  const { dir, running } = workspace(t);
  const total = 20_000;
  const server = await HubbleTestServer.start(join(dir, 'hubble.sock'));
  server.publish(flows(0, total));
  const bounded = boundedConfig(dir, server.address);
  const store = new GatedStore(`${dir}/landing`);
  const agent = new Agent(bounded, { logger: silentLogger, store });
  await agent.start('follow');
  Object.assign(running, { agent, server, store });
  try {
    await until(() => !agent.status().hasCapacity, 'the spool to fill');
    // The server is blocked once its sent count stops moving.
    await eventually(async () => {
      const before = server.sent;
      await sleep(250);
      return server.sent === before;
    }, 'the server to block');
    const receivedFlows = await counted(agent.metrics, 'flow');
    assert.ok(server.blockedWrites > 0, 'the server saw write() return false');
    assert.ok(server.sent < total / 2, `the server could not push the stream (${server.sent} of ${total} sent)`);
    // In flight between server and pipeline: the HTTP/2 window (64 KiB), the stream's read buffer and one batch.
    assert.ok(server.sent - receivedFlows <= 1000, `in flight ${server.sent - receivedFlows} flows`);
    const status = agent.status();
    assert.ok(status.bufferedBytes <= 256 * 1024 + 64 * 1024, `buffer bounded (${status.bufferedBytes} bytes)`);
  } finally {
    store.open();
  }
  await eventually(async () => (await counted(agent.metrics, 'flow')) >= total, 'every flow');
  await agent.stop(Number.POSITIVE_INFINITY);
  await server.stop();
  const ids = (await readLanded(`${dir}/landing`)).tables.flows!.record_ids;
  assert.equal(ids.length, total, 'every flow landed');
  assert.equal(new Set(ids).size, total, 'and none twice');
  assert.deepEqual(agent.metrics.drops(), []);
  assert.deepEqual(agent.metrics.losses(), []);
});

test('when a blocked reader falls behind Hubble’s ring buffer, the overwritten flows are counted as lost', async (t) => {
  const { dir, running } = workspace(t);
  const server = await HubbleTestServer.start(join(dir, 'hubble.sock'), { capacity: 2000 });
  server.publish(flows(0, 1500));
  const bounded = boundedConfig(dir, server.address);
  const store = new GatedStore(`${dir}/landing`);
  const agent = new Agent(bounded, { logger: silentLogger, store });
  await agent.start('follow');
  Object.assign(running, { agent, server, store });
  const total = 12_000;
  try {
    await until(() => !agent.status().hasCapacity, 'the spool to fill');
    server.publish(flows(1500, total));
  } finally {
    store.open();
  }
  const lost = () => agent.metrics.losses().reduce((n, l) => n + l.count, 0);
  await eventually(async () => (await counted(agent.metrics, 'flow')) + lost() >= total, 'every flow landed or lost');
  await agent.stop(Number.POSITIVE_INFINITY);
  await server.stop();
  const ids = (await readLanded(`${dir}/landing`)).tables.flows!.record_ids;
  const losses = agent.metrics.losses();
  assert.equal(losses.length, 1);
  assert.equal(losses[0]!.reason, 'hubble_ring_buffer');
  assert.ok(losses[0]!.count > 0);
  assert.equal(new Set(ids).size, ids.length, 'no duplicates');
  assert.equal(ids.length + losses[0]!.count, total, 'every flow is either landed or counted as lost');
  assert.ok(ids.includes(idOf(total - 1)), 'the newest flows arrive after the loss');
});

test('canary secrets in L7 headers and URLs never reach the landed Parquet; correlation ids do', async (t) => {
  const { dir, running } = workspace(t);
  const server = await HubbleTestServer.start(join(dir, 'hubble.sock'));
  const requestId = 'req-4d1c9e2a-kept';
  server.publish(
    flows(0, 2, (i) => ({
      Type: 'L7',
      l7: {
        type: i === 0 ? 'REQUEST' : 'RESPONSE',
        latency_ns: '1500000',
        http: {
          code: i === 0 ? 0 : 200,
          method: 'GET',
          url: 'http://user:CANARY_USERINFO_PW@cart.shop.svc:8080/api/v1/cart?token=CANARY_QUERY_TOKEN#CANARY_FRAGMENT',
          protocol: 'HTTP/1.1',
          headers: [
            { key: 'Authorization', value: 'Bearer CANARY_AUTH_HEADER' },
            { key: 'Cookie', value: 'session=CANARY_COOKIE' },
            { key: 'X-Api-Key', value: 'CANARY_API_KEY' },
            { key: 'X-Request-Id', value: requestId },
            { key: 'traceparent', value: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
          ],
        },
      },
    })),
  );
  const plain = testConfig(dir, { encode: { compression: 'none' }, sources: [hubbleSource(server.address)] });
  const agent = new Agent(plain, { logger: silentLogger });
  await agent.start('follow');
  Object.assign(running, { agent, server });
  try {
    await eventually(async () => (await counted(agent.metrics, 'flow')) >= 2, '2 flows');
  } finally {
    await agent.stop();
    await server.stop();
  }
  const bytes = Buffer.concat(parquetFiles(`${dir}/landing`).map((f) => readFileSync(f)));
  assert.ok(bytes.includes(requestId), 'uncompressed Parquet: a kept value is visible in the bytes');
  assert.ok(bytes.includes('4bf92f3577b34da6a3ce929d0e0e4736'), 'the trace id is kept');
  assert.ok(bytes.includes('/api/v1/cart'), 'the path is kept');
  assert.equal(bytes.includes('CANARY'), false, 'no canary reached the Parquet bytes');
});

function parquetFiles(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.parquet'))
    .map((f) => join(root, f));
}

test('after an agent restart the stream resumes from the committed checkpoint, not from now', async (t) => {
  const { dir, running } = workspace(t);
  const server = await HubbleTestServer.start(join(dir, 'hubble.sock'));
  running.server = server;
  server.publish(flows(0, 100));
  const agentWith = (lookback: string) =>
    new Agent(
      testConfig(dir, {
        sources: [hubbleSource(server.address, { initial_lookback: lookback, resume_overlap: '20ms' })],
      }),
      {
        logger: silentLogger,
      },
    );
  const first = agentWith('1h');
  running.agent = first;
  await first.start('follow');
  await eventually(async () => (await counted(first.metrics, 'flow')) >= 100, '100 flows');
  await first.stop();
  server.publish(flows(100, 200));
  // No lookback: without the checkpoint, the second agent would start at "now" and miss flows 100..199.
  const second = agentWith('0s');
  running.agent = second;
  await second.start('follow');
  // It re-reads the 20ms before the checkpoint (flows 79..99, forgotten with the first process) and the 100 new ones.
  await eventually(async () => (await counted(second.metrics, 'flow')) >= 121, 'the flows published while down');
  await second.stop();
  const since = server.requests.at(-1)!.since as { seconds: string; nanos: number };
  assert.equal(Number(since.seconds) * 1e6 + since.nanos / 1000, at(99) - 20_000, 'checkpoint − resume_overlap');
  const ids = (await readLanded(`${dir}/landing`)).tables.flows!.record_ids;
  assert.deepEqual(new Set(ids), new Set(Array.from({ length: 200 }, (_, i) => idOf(i))), 'no gap across the restart');
  // Re-read rows carry the same record_id; the lakehouse removes them.
  assert.equal(ids.length, 221);
});

test('TLS on TCP: mutual TLS with the configured server name; a client without a certificate is refused', async (t) => {
  const { dir, running } = workspace(t);
  const pki = makePki(join(dir, 'pki'));
  const server = await HubbleTestServer.start(join(dir, 'unused.sock'), {
    tls: {
      ca: readFileSync(pki.ca),
      cert: readFileSync(pki.serverCert),
      key: readFileSync(pki.serverKey),
      requireClientCert: true,
    },
  });
  running.server = server;
  server.publish(flows(0, 50));
  const tls = { ca_file: pki.ca, cert_file: pki.clientCert, key_file: pki.clientKey, server_name: pki.serverName };
  const agent = new Agent(hubbleConfig(dir, server.address, { tls }), { logger: silentLogger });
  running.agent = agent;
  await agent.start('follow');
  await eventually(async () => (await counted(agent.metrics, 'flow')) >= 50, '50 flows over mutual TLS');
  await agent.stop();

  const refused = new Agent(
    testConfig(join(dir, 'second'), {
      sources: [hubbleSource(server.address, { tls: { ca_file: pki.ca, server_name: pki.serverName } })],
    }),
    { logger: silentLogger },
  );
  running.agent = refused;
  await refused.start('follow');
  await eventually(async () => {
    const ends = await refused.metrics.hubbleStreamEnds.get();
    return ends.values.some((v) => v.value >= 2);
  }, 'the refused stream to be retried');
  assert.equal(await counted(refused.metrics, 'flow'), 0);
  await refused.stop();
});

/** A CA, a server certificate for Hubble's name pattern and a client certificate, made with openssl. */
function makePki(dir: string) {
  mkdirSync(dir, { recursive: true });
  const serverName = 'node-a.default.hubble-grpc.cilium.io';
  const f = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=hubble-ca',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  );
  for (const [name, cn, ext] of [
    ['server', serverName, `subjectAltName=DNS:${serverName}`],
    ['client', 'hoptrace', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
    );
    writeFileSync(f(`${name}.ext`), `${ext}\n`);
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    );
  }
  return {
    serverName,
    ca: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
  };
}

// The Kubernetes source end to end: the real @kubernetes/client-node against
// the test API server (test/support/kube-apiserver.ts), a real agent, and the
// Parquet it lands read back with pyarrow.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { localPodIndex } from '../agent/src/sources/kubernetes/pod-index.ts';
import { LocalDirectoryStore } from '../agent/src/store/local.ts';
import type { ObjectStore } from '../agent/src/store/store.ts';
import { until } from './support/agent.ts';
import { KubeApiServer } from './support/kube-apiserver.ts';
import { eventually, metricValue, pod, type Row, readRows, startKubeAgent } from './support/kubernetes.ts';
import { tempDir } from './support/tmp.ts';

const changesOf = (rows: Row[], name: string) =>
  rows
    .filter((r) => r.name === name)
    .sort((a, b) => Number(a.resource_version) - Number(b.resource_version))
    .map((r) => r.change_type);

test("this node's pods: field-selected LIST + watch with bookmarks, the local index, changes and snapshots land as rows", async (t) => {
  const dir = tempDir();
  const api = await KubeApiServer.start({ bookmarkIntervalMs: 200 });
  t.after(() => api.close());
  api.create(
    'pods',
    pod('checkout-5d9f-abcde', 'node-a', {
      ip: '10.1.0.5',
      labels: { app: 'checkout', 'pod-template-hash': '5d9f' },
    }),
  );
  api.update('pods', 'shop', 'checkout-5d9f-abcde', (o) => {
    o.metadata!.ownerReferences = [{ kind: 'ReplicaSet', name: 'checkout-5d9f', controller: true }];
  });
  api.create('pods', pod('elsewhere', 'node-b', { ip: '10.2.0.5' }));
  api.create('pods', pod('pending', undefined));
  const { agent, source, landing } = await startKubeAgent(dir, api, {
    source: { kinds: ['pods'], snapshot_interval: '1s' },
  });

  await until(() => source.pods.size === 1, 'the node pod in the index');
  const index = localPodIndex('node-a');
  assert.equal(index, source.pods);
  assert.equal(index?.byIp('10.1.0.5')?.owner_name, 'checkout');
  assert.equal(index?.byContainerId('containerd://checkout-5d9f-abcde-cid')?.name, 'checkout-5d9f-abcde');
  assert.equal(index?.byIp('10.2.0.5'), undefined);

  // Scheduled onto this node: it enters the selection (ADDED).
  api.update('pods', 'shop', 'pending', (o) => {
    (o.spec as Row).nodeName = 'node-a';
    o.status = { phase: 'Running', podIP: '10.1.0.6', podIPs: [{ ip: '10.1.0.6' }] };
  });
  // A status heartbeat that changes no kept field: no row.
  api.update('pods', 'shop', 'checkout-5d9f-abcde', (o) => {
    (o.status as Row).conditions = [{ type: 'PodScheduled', status: 'True', lastProbeTime: 'now' }];
  });
  api.update('pods', 'shop', 'checkout-5d9f-abcde', (o) => {
    (o.status as Row).conditions = [{ type: 'Ready', status: 'False' }];
  });
  await until(() => source.pods.byIp('10.1.0.6') !== undefined, 'the scheduled pod');
  api.remove('pods', 'shop', 'checkout-5d9f-abcde');
  await until(() => source.pods.size === 1, 'the deleted pod leaves the index');
  const before = await metricValue(agent, 'hoptrace_k8s_snapshots_total');
  await eventually(
    async () => (await metricValue(agent, 'hoptrace_k8s_snapshots_total')) > before,
    'a periodic snapshot after the changes',
  );
  assert.ok((await metricValue(agent, 'hoptrace_k8s_watch_events_total', { type: 'BOOKMARK' })) > 0);
  await agent.stop();
  assert.equal(localPodIndex('node-a'), undefined);

  const rows = await readRows(landing, 'k8s_objects');
  assert.ok(rows.every((r) => r.kind === 'Pod' && r.node === 'node-a' && r.source === 'k8s-watch'));
  assert.equal(rows.filter((r) => r.name === 'elsewhere').length, 0);
  const checkout = changesOf(rows, 'checkout-5d9f-abcde').filter((c) => c !== 'SNAPSHOT');
  assert.deepEqual(checkout, ['MODIFIED', 'DELETED']);
  assert.equal(changesOf(rows, 'checkout-5d9f-abcde')[0], 'SNAPSHOT');
  assert.deepEqual(changesOf(rows, 'pending').slice(0, 1), ['ADDED']);
  assert.ok(changesOf(rows, 'pending').includes('SNAPSHOT'), 'periodic snapshot of the remaining pod');
  const first = rows.find((r) => r.name === 'checkout-5d9f-abcde')!;
  assert.equal(first.owner_kind, 'Deployment');
  assert.deepEqual(first.pod_ips, ['10.1.0.5']);
  assert.equal((first.containers as Row[])[0]!.container_id, 'checkout-5d9f-abcde-cid');
  assert.equal(new Set(rows.map((r) => r.record_id)).size, rows.length);

  const podRequests = api.requests.filter((r) => r.path === '/api/v1/pods');
  assert.ok(podRequests.length >= 2);
  for (const r of podRequests) assert.equal(r.query.fieldSelector, 'spec.nodeName=node-a');
  for (const r of podRequests.filter((r) => r.query.watch)) assert.equal(r.query.allowWatchBookmarks, 'true');
  for (const r of podRequests.filter((r) => !r.query.watch)) assert.equal(r.query.limit, '500');
  assert.ok(!api.requests.some((r) => r.path.includes('/leases')), 'no election without cluster kinds');
});

test('watch failures — cut mid-event, 410 Gone as an event and as the HTTP status, refused requests, an API server restart — converge without skipping a change', async (t) => {
  const dir = tempDir();
  const api = await KubeApiServer.start();
  t.after(() => api.close());
  for (const name of ['keep', 'change', 'vanish']) api.create('pods', pod(name, 'node-a'));
  const { agent, source, landing } = await startKubeAgent(dir, api, { source: { kinds: ['pods'] } });
  await until(() => source.pods.size === 3, 'initial pods');

  // A connection cut halfway through an event line: the client drops the
  // partial line and re-watches from the last complete event, so the server replays it.
  api.cutNextEvent();
  const cut = api.update('pods', 'shop', 'change', (o) => {
    (o.status as Row).phase = 'Pending';
  });
  await until(() => source.pods.byUid(String(cut.metadata!.uid))?.phase === 'Pending', 'the cut event, replayed');

  // The API server refuses everything while the cluster changes and forgets its history: 410 on return.
  api.fault = ({ path }) => (path === '/api/v1/pods' ? 503 : undefined);
  api.dropConnections();
  await until(() => api.requests.some((r) => r.status === 503), 'a refused request');
  api.create('pods', pod('appeared', 'node-a'));
  api.remove('pods', 'shop', 'vanish');
  api.update('pods', 'shop', 'keep', (o) => {
    (o.status as Row).podIP = '10.1.0.9';
  });
  api.compact();
  api.fault = undefined;
  await until(() => source.pods.size === 3 && source.pods.byName('shop', 'appeared') !== undefined, 'the relist');
  assert.equal(source.pods.byName('shop', 'vanish'), undefined);
  assert.ok((await metricValue(agent, 'hoptrace_k8s_relists_total', { kind: 'pods', reason: 'expired' })) >= 1);
  assert.ok((await metricValue(agent, 'hoptrace_k8s_watch_restarts_total', { kind: 'pods', reason: 'error' })) >= 1);

  // A restart that loses the watch cache, answering the old position with HTTP 410.
  api.options.expiredAsHttpStatus = true;
  const restarted = api.restart({ loseHistory: true, downMs: 300 });
  api.create('pods', pod('after-restart', 'node-a'));
  await restarted;
  await until(() => source.pods.byName('shop', 'after-restart') !== undefined, 'the pod created while down');
  assert.ok(
    api.requests.some((r) => r.query.watch && r.status === 410),
    'a watch answered with HTTP 410',
  );
  assert.ok((await metricValue(agent, 'hoptrace_k8s_relists_total', { kind: 'pods', reason: 'expired' })) >= 2);

  // Converged: the index equals the server's view of this node.
  const serverPods = ['keep', 'change', 'appeared', 'after-restart'];
  assert.deepEqual([...source.pods.values()].map((p) => p.name).sort(), [...serverPods].sort());
  await agent.stop();
  const rows = await readRows(landing, 'k8s_objects');
  assert.ok(rows.some((r) => r.name === 'change' && r.phase === 'Pending' && r.change_type === 'MODIFIED'));
  assert.deepEqual(changesOf(rows, 'appeared'), ['ADDED']);
  assert.deepEqual(changesOf(rows, 'vanish'), ['SNAPSHOT', 'DELETED']);
  assert.ok(rows.some((r) => r.name === 'keep' && r.change_type === 'MODIFIED'));
  assert.deepEqual(changesOf(rows, 'after-restart'), ['ADDED']);
  assert.equal(agent.metrics.drops().length, 0);
});

/** A store that refuses to finish uploads until opened, so the spool fills and the pipeline stops taking rows. */
class GateStore implements ObjectStore {
  readonly kind = 'local';
  readonly location: string;
  private readonly inner: LocalDirectoryStore;
  private opened: () => void = () => {};
  private readonly gate = new Promise<void>((r) => {
    this.opened = r;
  });
  constructor(dir: string) {
    this.inner = new LocalDirectoryStore(dir);
    this.location = this.inner.location;
  }
  open(): void {
    this.opened();
  }
  async put(key: string, body: Uint8Array): Promise<void> {
    await this.gate;
    await this.inner.put(key, body);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

test('a full pipeline pauses the watch: events queue to the bound, the watch closes, and resumes from the last emitted version without a gap', async (t) => {
  const dir = tempDir();
  const api = await KubeApiServer.start();
  t.after(() => api.close());
  api.create('pods', pod('first', 'node-a'));
  const store = new GateStore(`${dir}/node-a/landing`);
  const { agent, source, landing } = await startKubeAgent(dir, api, {
    source: { kinds: ['pods'], watch: { max_queued_events: 10, backoff_initial: '50ms' } },
    config: { spool: { dir: `${dir}/node-a/spool`, max_bytes: 1 } },
    store,
  });
  t.after(() => {
    store.open();
    return agent.stop();
  });
  await until(() => source.pods.size === 1, 'first pod');
  // The first file fills the one-byte spool; from then on the source waits for room.
  await until(() => agent.status().spoolFiles >= 1, 'a spooled file');
  for (let i = 0; i < 60; i++) api.create('pods', pod(`burst-${i}`, 'node-a'));
  await until(() => !agent.status().hasCapacity, 'the pipeline is full');
  // The bound is reached while the source waits for room: the watch connection is closed.
  await until(() => api.openWatches('pods').length === 0, 'the pod watch closed by the agent');
  assert.ok(source.pods.size < 61);
  store.open();
  await until(() => source.pods.size === 61, 'every burst pod');
  assert.ok((await metricValue(agent, 'hoptrace_k8s_watch_restarts_total', { reason: 'backpressure' })) >= 1);
  await agent.stop();
  const rows = await readRows(landing, 'k8s_objects');
  const added = rows.filter((r) => r.change_type === 'ADDED').map((r) => r.name);
  assert.equal(added.length, 60);
  assert.equal(new Set(added).size, 60);
  assert.equal(agent.metrics.drops().length, 0);
});

// Leader election and the cluster-scoped kinds: two agents, one Lease; only
// the holder watches and exports Services, EndpointSlices, Nodes and Events;
// failover when the holder stops renewing or stops; Lease writes in the
// MicroTime format a real API server insists on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoordinationV1Api, KubeConfig, V1MicroTime } from '@kubernetes/client-node';
import { until } from './support/agent.ts';
import { type KubeApiServer as Api, KubeApiServer, type WatchRecord } from './support/kube-apiserver.ts';
import { eventually, metricValue, type Row, readRows, service, startKubeAgent } from './support/kubernetes.ts';
import { tempDir } from './support/tmp.ts';

const CLUSTER = new Set(['services', 'endpointslices', 'nodes', 'events.k8s.io']);

/** Cluster-scoped watch streams of two different agents never overlapped in time (as the server saw them). */
function assertNoOverlap(api: Api): void {
  const streams = api.watches.filter((w) => CLUSTER.has(w.collection));
  const end = (w: WatchRecord) => w.closedAt ?? Number.POSITIVE_INFINITY;
  for (const a of streams)
    for (const b of streams)
      if (a.token !== b.token)
        assert.ok(
          end(a) <= b.openedAt || end(b) <= a.openedAt,
          `${a.token} ${a.collection} [${a.openedAt}, ${end(a)}] overlaps ${b.token} ${b.collection} [${b.openedAt}, ${end(b)}]`,
        );
}

test('one leader at a time: takeover when the holder stops renewing, and at once when it stops and releases', async (t) => {
  const dir = tempDir();
  const api = await KubeApiServer.start({ bookmarkIntervalMs: 300 });
  t.after(() => api.close());
  api.create('services', service('web', '10.96.0.10'));
  api.create('nodes', {
    metadata: { name: 'node-a' },
    spec: { podCIDRs: ['10.1.0.0/24'] },
    status: { addresses: [{ type: 'InternalIP', address: '192.168.1.10' }] },
  });
  api.create('endpointslices', {
    metadata: { name: 'web-x1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.1.0.5'], conditions: { ready: true } }],
    ports: [{ port: 8080 }],
  });
  api.create('events.k8s.io', {
    metadata: { name: 'web.1', namespace: 'shop' },
    regarding: { kind: 'Pod', name: 'web-1', namespace: 'shop' },
    reason: 'Started',
    note: 'Started container app',
    type: 'Normal',
    eventTime: '2026-11-01T10:00:00.000001Z',
  });

  const a = await startKubeAgent(dir, api, { node: 'node-a', token: 'agent-a' });
  t.after(() => a.agent.stop());
  await until(() => a.source.terms.length === 1, 'agent a leads');
  const b = await startKubeAgent(dir, api, { node: 'node-b', token: 'agent-b' });
  t.after(() => b.agent.stop());
  // b keeps trying, and keeps seeing a valid Lease held by a.
  await until(
    () => api.requests.filter((r) => r.token === 'agent-b' && r.path.includes('/leases')).length >= 6,
    'b has tried the Lease a few times',
  );
  assert.equal(b.source.terms.length, 0);
  assert.equal(await metricValue(b.agent, 'hoptrace_k8s_leader'), 0);
  assert.equal(await metricValue(a.agent, 'hoptrace_k8s_leader'), 1);
  assert.equal(api.watches.filter((w) => w.token === 'agent-b' && CLUSTER.has(w.collection)).length, 0);
  // A valid Lease held by another is only read, never written.
  assert.equal(api.leaseWrites.filter((w) => w.token === 'agent-b').length, 0);

  // a can no longer reach the Lease (its other traffic still flows): it must stop exporting by
  // itself before b may take over.
  api.fault = ({ path, token }) => (token === 'agent-a' && path.includes('/leases') ? 503 : undefined);
  await until(() => b.source.terms.length === 1, 'agent b takes over');
  assert.ok(a.source.terms[0]!.until !== undefined && a.source.terms[0]!.until <= b.source.terms[0]!.from);
  assert.equal(await metricValue(a.agent, 'hoptrace_k8s_leader_transitions_total', { transition: 'lost' }), 1);
  await until(() => api.openWatches().filter((w) => w.token === 'agent-b').length >= 5, 'b watches');
  api.fault = undefined;

  // A change while b leads is exported by b.
  api.create('services', service('cart', '10.96.0.11'));
  await eventually(
    async () => (await readRows(b.landing, 'k8s_objects')).some((r) => r.name === 'cart'),
    'b lands cart',
    30_000,
  );
  assert.equal(a.source.terms.length, 1, 'a stays a follower once it can reach the Lease again');

  // b stops: it hands the Lease back and a takes over without waiting for expiry.
  await b.agent.stop();
  assert.ok(api.leaseWrites.some((w) => w.token === 'agent-b' && w.holder === '' && w.status === 200));
  assert.equal(await metricValue(b.agent, 'hoptrace_k8s_leader_transitions_total', { transition: 'released' }), 1);
  await until(() => a.source.terms.length === 2, 'a leads again');
  assert.ok(b.source.terms[0]!.until! <= a.source.terms[1]!.from);
  await until(
    () => api.openWatches().filter((w) => w.token === 'agent-a' && CLUSTER.has(w.collection)).length === 4,
    'a watches',
  );
  await a.agent.stop();

  assertNoOverlap(api);
  const rowsA = await readRows(a.landing, 'k8s_objects');
  const rowsB = await readRows(b.landing, 'k8s_objects');
  const kinds = (rows: Row[]) => [...new Set(rows.map((r) => r.kind))].sort();
  assert.deepEqual(kinds(rowsA), ['EndpointSlice', 'Node', 'Service']);
  assert.deepEqual(kinds(rowsB), ['EndpointSlice', 'Node', 'Service']);
  // Each new term starts with a full listing, so a's second term has cart as a SNAPSHOT.
  assert.ok(rowsA.some((r) => r.name === 'cart' && r.change_type === 'SNAPSHOT'));
  assert.ok(rowsB.some((r) => r.name === 'cart' && r.change_type === 'ADDED'));
  const svc = rowsB.find((r) => r.name === 'web')!;
  assert.deepEqual(svc.cluster_ips, ['10.96.0.10']);
  const slice = rowsA.find((r) => r.kind === 'EndpointSlice')!;
  assert.equal(slice.service_name, 'web');
  assert.deepEqual(rowsA.find((r) => r.kind === 'Node')!.node_internal_ips, ['192.168.1.10']);
  // Every row of a cluster kind was observed inside its agent's own term.
  for (const [rows, source] of [
    [rowsA, a.source],
    [rowsB, b.source],
  ] as const)
    for (const r of rows) {
      const observedMs = Date.parse(String(r.observed_time).replace(' ', 'T'));
      assert.ok(
        source.terms.some((term) => observedMs >= term.from - 1 && observedMs <= (term.until ?? Date.now()) + 1),
        `row observed at ${String(r.observed_time)} outside the agent's terms`,
      );
    }
  const events = await readRows(a.landing, 'k8s_events');
  assert.ok(events.some((e) => e.reason === 'Started' && e.involved_name === 'web-1'));
  // Lease writes were all well-formed (none rejected for the time format).
  assert.ok(api.leaseWrites.every((w) => w.status !== 400));
});

test('the test API server, like a real one, rejects Lease times without six fractional digits and stale writes', async (t) => {
  const api = await KubeApiServer.start();
  t.after(() => api.close());
  const dir = tempDir();
  const kc = new KubeConfig();
  kc.loadFromFile(api.writeKubeconfig(`${dir}/kubeconfig`));
  const leases = kc.makeApiClient(CoordinationV1Api);
  const namespace = 'hoptrace';
  await assert.rejects(
    leases.createNamespacedLease({
      namespace,
      body: { metadata: { name: 'l' }, spec: { holderIdentity: 'x', renewTime: new Date() as V1MicroTime } },
    }),
    (err: { code?: number; body?: unknown }) => err.code === 400 && String(err.body).includes('.000000'),
  );
  const created = await leases.createNamespacedLease({
    namespace,
    body: { metadata: { name: 'l' }, spec: { holderIdentity: 'x', renewTime: new V1MicroTime() } },
  });
  const read = await leases.readNamespacedLease({ name: 'l', namespace });
  assert.match(String(read.spec?.renewTime), /\.\d{6}Z$/);
  await leases.replaceNamespacedLease({
    name: 'l',
    namespace,
    body: { ...created, spec: { ...created.spec, holderIdentity: 'y', renewTime: new V1MicroTime() } },
  });
  await assert.rejects(
    leases.replaceNamespacedLease({
      name: 'l',
      namespace,
      body: { ...created, spec: { ...created.spec, holderIdentity: 'z', renewTime: new V1MicroTime() } },
    }),
    (err: { code?: number }) => err.code === 409,
  );
  await assert.rejects(
    leases.createNamespacedLease({ namespace, body: { metadata: { name: 'l' }, spec: {} } }),
    (err: { code?: number }) => err.code === 409,
  );
});

test('cluster kinds: paginated LISTs survive an expired continue token; malformed objects are counted drops', async (t) => {
  const dir = tempDir();
  const api = await KubeApiServer.start();
  t.after(() => api.close());
  for (let i = 0; i < 40; i++) api.create('services', service(`svc-${String(i).padStart(2, '0')}`, `10.96.1.${i}`));
  api.create('services', {
    ...service('broken', '10.96.2.1'),
    metadata: { name: 'broken', namespace: 'shop', uid: '' },
  });
  let expiredOnce = false;
  api.fault = ({ path, query }) => {
    if (path === '/api/v1/services' && query.continue && !expiredOnce) {
      expiredOnce = true;
      api.compact();
    }
    return undefined;
  };
  const { agent, source, landing } = await startKubeAgent(dir, api, {
    source: { kinds: ['services'], watch: { page_size: 7 } },
  });
  t.after(() => agent.stop());
  await until(() => source.terms.length === 1, 'leading');
  await eventually(
    async () => (await metricValue(agent, 'hoptrace_k8s_cache_objects', { kind: 'services' })) === 40,
    'the cache filled',
  );
  api.create('services', service('late', '10.96.3.1'));
  await eventually(
    async () => (await metricValue(agent, 'hoptrace_k8s_cache_objects', { kind: 'services' })) === 41,
    'the late service',
  );
  await agent.stop();
  const lists = api.requests.filter((r) => r.path === '/api/v1/services' && !r.query.watch);
  assert.ok(
    lists.some((r) => r.status === 410),
    'a continue token expired',
  );
  assert.ok(lists.every((r) => r.query.limit === '7'));
  const rows = await readRows(landing, 'k8s_objects');
  const names = new Set(rows.map((r) => r.name));
  assert.equal(names.size, 41);
  assert.ok(!names.has('broken'));
  assert.ok(rows.every((r) => r.change_type === 'SNAPSHOT' || (r.name === 'late' && r.change_type === 'ADDED')));
  assert.ok(agent.metrics.drops().some((d) => d.reason === 'k8s_invalid_object' && d.count >= 1));
});

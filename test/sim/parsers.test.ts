// The real sources read what the simulator writes: the container-logs source
// (tailer + ingress-nginx and Envoy/Istio parsers) turns every emitted access
// record into a row and drops none, and the Kubernetes source, watching the
// API test server fed with the cluster's objects, lands every pod, Service,
// EndpointSlice and Node. (Sources whose README is not written yet are
// checked against their format's specification in formats.test.ts.)
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { HttpRequestRow } from '../../agent/src/contract/generated.ts';
import { containerLogsSourceSchema } from '../../agent/src/sources/container-logs/config.ts';
import { ContainerLogsSource } from '../../agent/src/sources/container-logs/source.ts';
import { applyChange, type ChangeLine, changeTimeUs } from '../../sim/src/feed/kubernetes.ts';
import { KubeApiServer } from '../support/kube-apiserver.ts';
import { eventually, readRows, startKubeAgent } from '../support/kubernetes.ts';
import { TestSourceContext } from '../support/source-context.ts';
import { tempDir } from '../support/tmp.ts';
import { jsonl, run, truth } from './helpers.ts';

async function drainLogs(root: string, node: string): Promise<{ rows: HttpRequestRow[]; ctx: TestSourceContext }> {
  const source = new ContainerLogsSource(
    containerLogsSourceSchema.parse({
      type: 'container-logs',
      include: [`${root}/var/log/pods/*/*/*.log`, `${root}/var/log/pods/*/*/*.log.*`],
      start_at: 'beginning',
    }),
  );
  const ctx = new TestSourceContext({ node });
  await source.run(ctx, 'drain');
  return { rows: ctx.records.map((r) => r.row as HttpRequestRow), ctx };
}

async function linesByKind(ctx: TestSourceContext): Promise<Record<string, number>> {
  const { values } = await ctx.metrics.containerLogLines.get();
  const out: Record<string, number> = {};
  for (const v of values) out[String(v.labels.kind)] = (out[String(v.labels.kind)] ?? 0) + v.value;
  return out;
}

test('container-logs source: every access record the simulator wrote becomes a row, none malformed', async () => {
  const r = run({
    seed: 41,
    durationS: 20,
    rate: 15,
    sidecarShare: 0.7,
    longLineShare: 0.02,
    timeoutRate: 0.02,
    connectErrorRate: 0.03,
  });
  const rows: HttpRequestRow[] = [];
  for (const n of r.manifest.nodes) {
    const out = await drainLogs(join(r.dir, n.root), n.name);
    const kinds = await linesByKind(out.ctx);
    assert.equal(kinds.malformed ?? 0, 0, `${n.name}: no access line is malformed (${JSON.stringify(kinds)})`);
    rows.push(...out.rows);
  }
  assert.equal(rows.length, r.manifest.counts.access_records, 'one row per access record written');

  const requests = truth(r);
  const byRole = (role: string) => rows.filter((x) => x.role === role);
  assert.equal(byRole('ingress').length, requests.filter((q) => q.ingress.controller === 'ingress-nginx').length);
  assert.equal(byRole('gateway').length, requests.filter((q) => q.ingress.controller === 'envoy-gateway').length);
  assert.ok(byRole('sidecar_inbound').length > 0 && byRole('sidecar_outbound').length > 0);
  assert.equal(rows.filter((x) => x.role === 'unknown').length, 0);

  // The ingress rows carry the truth: request id, status, and every upstream try.
  const ingressRows = new Map(
    rows.filter((x) => x.role === 'ingress' || x.role === 'gateway').map((x) => [x.request_id, x]),
  );
  for (const q of requests) {
    const row = ingressRows.get(q.request_id);
    assert.ok(row, `${q.id}: its ingress row`);
    assert.equal(row.status, q.status, `${q.id}: status`);
    assert.equal(row.pod, q.ingress.pod);
    assert.equal(row.method, q.method);
    // Envoy Gateway logs it under x-envoy-origin-path, ingress-nginx in the request line.
    assert.equal(row.path, q.path, `${q.id}: path without the query`);
    if (q.ingress.controller === 'ingress-nginx') {
      assert.deepEqual(
        (row.upstream_attempts ?? []).map((a) => `${a.address}:${a.port}`),
        q.attempts.map((a) => `${a.address}:${a.port}`),
        `${q.id}: upstream tries`,
      );
    } else {
      const last = q.attempts.at(-1);
      if (last?.target)
        assert.deepEqual(
          [row.upstream_attempts?.at(-1)?.address, row.upstream_local_ip, row.upstream_local_port],
          [last.target.ip, last.connection.src_ip, last.connection.src_port],
          `${q.id}: gateway upstream host and local address`,
        );
    }
  }
  // Sidecar pairs: the client's upstream local address is the server's downstream remote address.
  const inbound = new Set(
    byRole('sidecar_inbound').map((x) => `${x.downstream_remote_ip}:${x.downstream_remote_port}`),
  );
  const outbound = byRole('sidecar_outbound').filter((x) => x.status && x.status < 500 && x.upstream_local_ip);
  const paired = outbound.filter((x) => inbound.has(`${x.upstream_local_ip}:${x.upstream_local_port}`));
  const sidecarServices = new Set(r.manifest.workloads.filter((w) => w.sidecar).map((w) => `${w.key}:80`));
  const toSidecars = outbound.filter((x) => sidecarServices.has(x.upstream_service ?? ''));
  assert.ok(toSidecars.length > 0, 'calls between sidecars');
  assert.equal(paired.length, toSidecars.length, 'every call between sidecars pairs by connection tuple');
});

test('Kubernetes source: the API server fed with the cluster lands every object', async () => {
  const r = run({ seed: 42, nodes: 3, durationS: 60, faults: { churn: 1 } });
  const changes = jsonl<ChangeLine>(join(r.dir, 'cluster/changes.jsonl'));
  const api = await KubeApiServer.start();
  const dir = tempDir('hoptrace-sim-k8s-');
  const node = r.manifest.nodes[0]!.name;
  for (const c of changes) applyChange(api, c);
  const { agent, landing } = await startKubeAgent(dir, api, { node, source: { snapshot_interval: '1h' } });
  try {
    const podUids = new Set<string>();
    const live = new Map<string, string>();
    for (const c of changes)
      if (c.collection === 'pods' && c.object.spec && (c.object.spec as { nodeName: string }).nodeName === node) {
        const uid = c.object.metadata.uid;
        if (c.type === 'DELETED') live.delete(uid);
        else live.set(uid, (c.object.metadata as { name: string }).name);
      }
    for (const uid of live.keys()) podUids.add(uid);
    const services = new Set(changes.filter((c) => c.collection === 'services').map((c) => c.object.metadata.uid));
    await eventually(async () => {
      const rows = await readRows(landing, 'k8s_objects');
      const kinds = new Set(rows.map((x) => `${x.kind}/${x.uid}`));
      return [...podUids].every((u) => kinds.has(`Pod/${u}`)) && [...services].every((u) => kinds.has(`Service/${u}`));
    }, 'every pod of the node and every Service landed');
    const rows = await readRows(landing, 'k8s_objects');
    const pods = rows.filter((x) => x.kind === 'Pod');
    assert.ok(
      pods.every((p) => p.node_name === node),
      'pods are watched per node',
    );
    for (const p of pods)
      assert.ok(Array.isArray(p.pod_ips) && (p.pod_ips as string[]).length === 1 && p.owner_kind === 'Deployment');
    const slices = rows.filter((x) => x.kind === 'EndpointSlice');
    assert.ok(slices.length >= services.size, 'the leader exported the EndpointSlices');
    assert.equal(rows.filter((x) => x.kind === 'Node').length, r.manifest.nodes.length);
    assert.ok(changeTimeUs(changes.at(-1)!) > changeTimeUs(changes[0]!));
  } finally {
    await agent.stop();
    await api.close();
  }
});

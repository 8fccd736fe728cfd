// The ground truth agrees with the cluster the simulator published: every
// hop of every request is consistent with the Kubernetes objects as they were
// at that instant (pods, their IPs and readiness, Services and their
// EndpointSlices), no IP is held by two pods at once, and churn really
// reuses IPs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inCidr } from '../../sim/src/ip.ts';
import type { PodRef, TruthRequest } from '../../sim/src/truth.ts';
import { type Change, changes, type Run, run, truth, us } from './helpers.ts';

interface PodLife {
  uid: string;
  namespace: string;
  name: string;
  node: string;
  ip: string | undefined;
  labels: Record<string, string>;
  added: number;
  deleted: number;
  /** [from, to) intervals in which the Ready condition was true. */
  ready: [number, number][];
}

/** Pod lifetimes and readiness as the API server published them. */
function podLives(cs: readonly Change[]): Map<string, PodLife> {
  const out = new Map<string, PodLife>();
  for (const c of cs) {
    if (c.collection !== 'pods') continue;
    const o = c.object;
    const at = us(c.at);
    let p = out.get(o.metadata.uid);
    if (!p) {
      p = {
        uid: o.metadata.uid,
        namespace: o.metadata.namespace,
        name: o.metadata.name,
        node: o.spec.nodeName,
        ip: undefined,
        labels: o.metadata.labels,
        added: at,
        deleted: Number.POSITIVE_INFINITY,
        ready: [],
      };
      out.set(p.uid, p);
    }
    if (o.status.podIP) {
      if (p.ip !== undefined) assert.equal(o.status.podIP, p.ip, `pod ${p.name} changed its IP`);
      p.ip = o.status.podIP;
    }
    const ready = o.status.conditions.find((x: { type: string }) => x.type === 'Ready')?.status === 'True';
    const open = p.ready.at(-1);
    if (c.type === 'DELETED') {
      p.deleted = at;
      if (open && open[1] === Number.POSITIVE_INFINITY) open[1] = at;
    } else if (ready && !(open && open[1] === Number.POSITIVE_INFINITY)) p.ready.push([at, Number.POSITIVE_INFINITY]);
    else if (!ready && open && open[1] === Number.POSITIVE_INFINITY) open[1] = at;
  }
  return out;
}

function check(r: Run): { requests: TruthRequest[]; lives: Map<string, PodLife> } {
  const cs = changes(r);
  const lives = podLives(cs);
  const nodes = new Map(r.manifest.nodes.map((n) => [n.name, n]));
  const services = new Map(r.manifest.services.map((s) => [`${s.namespace}/${s.name}`, s]));
  const svcObjects = new Map(
    cs
      .filter((c) => c.collection === 'services')
      .map((c) => [`${c.object.metadata.namespace}/${c.object.metadata.name}`, c.object]),
  );

  // Pods: IPs from their node's CIDR, never two holders of one IP at once.
  const byIp = new Map<string, PodLife[]>();
  for (const p of lives.values()) {
    assert.ok(p.ip, `pod ${p.name} never got an IP`);
    assert.ok(inCidr(p.ip, nodes.get(p.node)!.pod_cidr), `${p.name} ${p.ip} outside ${p.node}'s pod CIDR`);
    byIp.set(p.ip, [...(byIp.get(p.ip) ?? []), p]);
  }
  for (const [ip, holders] of byIp) {
    holders.sort((a, b) => a.added - b.added);
    for (let i = 1; i < holders.length; i++)
      assert.ok(
        holders[i]!.added >= holders[i - 1]!.deleted,
        `${ip} held by ${holders[i - 1]!.name} and ${holders[i]!.name} at once`,
      );
  }

  const checkPod = (ref: PodRef, at: number, serviceKey: string | undefined, what: string) => {
    const p = lives.get(ref.uid);
    assert.ok(p, `${what}: pod ${ref.pod} was never published`);
    assert.equal(p.name, ref.pod, what);
    assert.equal(p.ip, ref.ip, `${what}: ${ref.pod} IP`);
    assert.equal(p.node, ref.node, `${what}: ${ref.pod} node`);
    assert.ok(at >= p.added && at < p.deleted, `${what}: ${ref.pod} did not exist at ${at}`);
    if (serviceKey) {
      const sel = svcObjects.get(serviceKey).spec.selector as Record<string, string>;
      for (const [k, v] of Object.entries(sel))
        assert.equal(p.labels[k], v, `${what}: ${ref.pod} not selected by ${serviceKey}`);
    }
    return p;
  };
  const isReady = (p: PodLife, at: number) => p.ready.some(([a, b]) => at >= a && at < b);

  const requests = truth(r);
  assert.ok(requests.length > 50, 'enough requests to say something');
  for (const q of requests) {
    const what = q.id;
    const start = us(q.start);
    const end = us(q.end);
    assert.ok(start < end, `${what}: start before end`);
    const ingress = checkPod(q.ingress, start, undefined, `${what} ingress`);
    assert.ok(isReady(ingress, start), `${what}: ingress pod ready`);
    assert.equal(
      q.ingress.namespace,
      q.ingress.controller === 'ingress-nginx' ? 'ingress-nginx' : 'envoy-gateway-system',
      `${what}: ingress namespace`,
    );
    const svcKey = `${q.service.namespace}/${q.service.name}`;
    const svc = services.get(svcKey)!;
    assert.equal(svc.cluster_ip, q.service.cluster_ip, `${what}: ClusterIP`);
    let prevEnd = start;
    for (const a of q.attempts) {
      const as = us(a.start);
      assert.ok(as >= prevEnd && us(a.end) <= end, `${what}: attempts in order, inside the request`);
      prevEnd = us(a.end);
      assert.equal(a.connection.src_ip, q.ingress.ip, `${what}: upstream connection from the ingress pod`);
      if (a.routing === 'endpoints_by_ingress') {
        assert.ok(a.target, `${what}: an endpoint was chosen`);
        assert.equal(a.address, a.target.ip, `${what}: the ingress logged the endpoint`);
        assert.equal(a.port, svc.target_port, `${what}: endpoint port`);
      } else {
        assert.equal(a.address, svc.cluster_ip, `${what}: proxied to the ClusterIP`);
        assert.equal(a.port, svc.port);
      }
      if (a.target && a.outcome !== 'refused') {
        const p = checkPod(a.target, as, svcKey, `${what} ${a.routing}`);
        // A kept-alive connection was made to a ready endpoint; it is not reused once the pod terminates.
        assert.ok(isReady(p, as) || p.ready.some(([from]) => from <= as), `${what}: target ready`);
        assert.ok(us(a.end) < p.deleted, `${what}: target alive until the attempt ended`);
      }
    }
    if (q.target) {
      const last = q.attempts.at(-1)!;
      assert.equal(last.outcome, 'ok', `${what}: the final attempt answered`);
      assert.equal(q.target.uid, last.target!.uid, `${what}: target is the last attempt's pod`);
      assert.equal(q.status, last.status, `${what}: status from the target`);
    }
    const hops = new Set([
      'ingress',
      ...q.attempts.map((_, i) => `attempt-${i + 1}`),
      ...q.downstream.map((d) => d.hop),
    ]);
    for (const d of q.downstream) {
      assert.ok(hops.has(d.parent), `${what}: ${d.hop} has a parent hop`);
      assert.ok(us(d.start) >= start && us(d.end) <= end + 10_000_000, `${what}: ${d.hop} within the request`);
      const from = checkPod(d.from, us(d.start), undefined, `${what} ${d.hop} caller`);
      assert.equal(d.connection.src_ip, from.ip, `${what}: ${d.hop} connection from the caller`);
      if (d.target) checkPod(d.target, us(d.start), `${d.service.namespace}/${d.service.name}`, `${what} ${d.hop}`);
      if (d.via === 'sidecar') assert.equal(d.routing, 'sidecar_endpoints');
      else assert.equal(d.routing, r.cfg.routing === 'ebpf' ? 'ebpf_socket_lb' : 'kube_proxy_dnat');
      if (d.outcome === 'policy_denied')
        assert.ok(r.manifest.denied_edges.some((e) => e.endsWith(`→${d.service.namespace}/${d.service.name}`)));
    }
    for (const hop of Object.keys(q.evidence)) assert.ok(hops.has(hop), `${what}: evidence for unknown hop ${hop}`);
  }
  return { requests, lives };
}

test('kube-proxy cluster with churn: every hop consistent with the objects as of its time', () => {
  const r = run({ seed: 21, nodes: 4, durationS: 60, rate: 12, faults: { churn: 2 } });
  const { requests } = check(r);
  const reused = r.manifest.faults.churn.filter((c) => c.ip_reused);
  assert.ok(reused.length > 0, 'churn reused an IP');
  assert.ok(
    requests.some((q) => q.faults.some((f) => f.startsWith('ip-reuse:'))),
    'requests reached a reused IP',
  );
  assert.ok(
    requests.some((q) => q.routing === 'kube_proxy_dnat') && requests.some((q) => q.routing === 'endpoints_by_ingress'),
  );
  assert.ok(
    requests.some((q) => q.attempts.length > 1 && q.target),
    'a retry to a second upstream answered',
  );
  assert.ok(
    requests.some((q) => q.downstream.length > 0),
    'requests fan out',
  );
});

test('eBPF socket-LB cluster with every fault: truth still consistent', () => {
  const r = run({
    seed: 22,
    nodes: 3,
    durationS: 40,
    rate: 15,
    routing: 'ebpf',
    policyDenyShare: 0.3,
    timeoutRate: 0.02,
    faults: { churn: 1, skew: 0.5, lost: 0.02, 'dup-ids': 0.05 },
  });
  const { requests } = check(r);
  assert.ok(requests.some((q) => q.routing === 'ebpf_socket_lb'));
  assert.ok(
    requests.some((q) => q.downstream.some((d) => d.outcome === 'policy_denied')),
    'policy drops happen',
  );
  assert.ok(
    requests.some(
      (q) => q.attempts.some((a) => a.outcome === 'timeout') || q.downstream.some((d) => d.outcome === 'timeout'),
    ),
  );
  assert.ok(requests.some((q) => q.faults.includes('dup-ids:request_id') || q.faults.includes('dup-ids:trace_id')));
  const dupIds = requests.filter((q) => q.faults.includes('dup-ids:request_id'));
  for (const q of dupIds)
    assert.ok(
      requests.some((o) => o.id !== q.id && o.request_id === q.request_id),
      `${q.id} shares its request id`,
    );
});

test('evidence: each request names what was emitted for it, and what a fault took away', () => {
  const r = run({ seed: 23, faults: { lost: 0.05 } });
  for (const q of truth(r)) {
    const ingress = q.evidence.ingress ?? [];
    const lostIngress = q.faults.includes('lost:ingress_log@ingress');
    assert.equal(ingress.includes('ingress_log'), !lostIngress, `${q.id}: ingress log emitted unless lost`);
  }
  assert.ok(r.manifest.faults.lost.length > 0);
});

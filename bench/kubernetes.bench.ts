// make bench — the Kubernetes source's costs:
//   1. memory of the local pod index per 1,000 pods (mapped state + lookups);
//   2. memory and CPU of the leader's cluster-scoped watches over a generated
//      cluster of 900 Services and 6,000 endpoints (EndpointSlices), served
//      by the test API server in a child process so its work is not counted:
//      initial LIST, then a churn of EndpointSlice updates through the watch.
// Rows go to a counting context, not the Parquet pipeline (measured by
// bench/pipeline.bench.ts), so the figures are the watches' own.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../agent/src/ops/logger.ts';
import { AgentMetrics } from '../agent/src/ops/metrics.ts';
import type { SourceContext, TableRecord } from '../agent/src/pipeline/source.ts';
import { QueryHasher } from '../agent/src/privacy/url.ts';
import { kubernetesSourceSchema } from '../agent/src/sources/kubernetes/config.ts';
import { KubernetesSource } from '../agent/src/sources/kubernetes/kubernetes-source.ts';
import { MetadataFilter, mapPod } from '../agent/src/sources/kubernetes/map.ts';
import { PodIndex } from '../agent/src/sources/kubernetes/pod-index.ts';
import { KubeApiServer, type Obj } from '../test/support/kube-apiserver.ts';

const SERVICES = 900;
const ENDPOINTS = 6000;
const CHURN = 3000;

const gc = () => {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 3; i++) g();
};
const mib = (b: number) => Math.round((b / 1024 ** 2) * 10) / 10;

function rawPod(i: number): Obj {
  const hash = (0x5d9f000 + (i % 97)).toString(16);
  const app = `svc-${i % 300}`;
  return {
    metadata: {
      name: `${app}-${hash}-${i.toString(36).padStart(5, 'x')}`,
      namespace: `team-${i % 25}`,
      uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      resourceVersion: String(100000 + i),
      creationTimestamp: '2026-11-01T10:00:00Z',
      labels: { app, 'pod-template-hash': hash, 'app.kubernetes.io/part-of': 'shop', version: 'v3' },
      annotations: {
        'kubectl.kubernetes.io/last-applied-configuration': 'x'.repeat(1500),
        'prometheus.io/scrape': 'true',
      },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${app}-${hash}`, controller: true }],
      managedFields: [{ manager: 'kube-controller-manager', operation: 'Update', fieldsV1: { 'f:spec': {} } }],
    },
    spec: {
      nodeName: 'node-a',
      containers: [
        {
          name: 'app',
          image: `registry.example/${app}:3.1.4`,
          ports: [{ containerPort: 8080, name: 'http', protocol: 'TCP' }],
          env: Array.from({ length: 12 }, (_, k) => ({ name: `VAR_${k}`, value: 'v'.repeat(40) })),
        },
        {
          name: 'istio-proxy',
          image: 'istio/proxyv2:1.24',
          ports: [{ containerPort: 15090, name: 'http-envoy-prom', protocol: 'TCP' }],
        },
      ],
    },
    status: {
      phase: 'Running',
      hostIP: '192.168.1.10',
      podIP: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      podIPs: [{ ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }],
      startTime: '2026-11-01T10:00:01Z',
      conditions: [
        { type: 'Ready', status: 'True', lastTransitionTime: '2026-11-01T10:00:05Z' },
        { type: 'ContainersReady', status: 'True', lastTransitionTime: '2026-11-01T10:00:05Z' },
      ],
      containerStatuses: [
        { name: 'app', containerID: `containerd://${String(i).padStart(64, 'a')}`, ready: true, restartCount: 0 },
        { name: 'istio-proxy', containerID: `containerd://${String(i).padStart(64, 'b')}`, ready: true },
      ],
    },
  };
}

function podIndexBench(): {
  pods: number;
  index_mib_per_1000: number;
  parsed_mib_per_1000: number;
  raw_json_kib_per_pod: number;
} {
  const filter = new MetadataFilter({ labelAllow: ['*'], labelDeny: [], annotationAllow: [] });
  const n = 10_000;
  const raws = Array.from({ length: n }, (_, i) => JSON.stringify(rawPod(i)));
  const rawBytes = raws.reduce((s, r) => s + r.length, 0);
  let index: PodIndex | undefined = new PodIndex();
  for (const r of raws) {
    const m = mapPod(JSON.parse(r) as Obj, filter);
    if (m.ok) index.upsert(m.value);
  }
  if (index.size !== n || !index.byIp('10.0.0.7')) throw new Error('index incomplete');
  // Measured by letting go of the index: what it held is what it costs.
  gc();
  const withIndex = process.memoryUsage().heapUsed;
  index = undefined;
  gc();
  const after = withIndex;
  const before = process.memoryUsage().heapUsed;
  // For comparison: the same pods held as parsed API objects (what an informer cache keeps).
  let parsed: unknown[] | undefined = raws.map((r) => JSON.parse(r));
  gc();
  const withParsed = process.memoryUsage().heapUsed;
  if (parsed.length !== n) throw new Error('parse');
  parsed = undefined;
  return {
    pods: n,
    index_mib_per_1000: mib(((after - before) / n) * 1000),
    parsed_mib_per_1000: mib(((withParsed - before) / n) * 1000),
    raw_json_kib_per_pod: Math.round((rawBytes / n / 1024) * 10) / 10,
  };
}

// --- the API server child -------------------------------------------------------

async function serve(): Promise<void> {
  const api = await KubeApiServer.start({ splitEvents: false, bookmarkIntervalMs: 5000 });
  const perSlice = Math.ceil(ENDPOINTS / SERVICES);
  let endpoints = 0;
  for (let s = 0; s < SERVICES; s++) {
    const ns = `team-${s % 25}`;
    const name = `svc-${s}`;
    api.create('services', {
      metadata: { name, namespace: ns, labels: { app: name, 'app.kubernetes.io/part-of': 'shop' } },
      spec: {
        type: 'ClusterIP',
        clusterIP: `10.96.${s >> 8}.${s & 255}`,
        clusterIPs: [`10.96.${s >> 8}.${s & 255}`],
        ports: [
          { name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' },
          { name: 'grpc', port: 9090, targetPort: 9090, protocol: 'TCP' },
        ],
        selector: { app: name },
      },
    });
    const count = Math.min(perSlice, ENDPOINTS - endpoints);
    endpoints += count;
    api.create('endpointslices', slice(ns, name, count, 0));
  }
  for (let n = 0; n < 250; n++)
    api.create('nodes', {
      metadata: {
        name: `node-${n}`,
        labels: { 'kubernetes.io/hostname': `node-${n}`, 'topology.kubernetes.io/zone': `z${n % 3}` },
      },
      spec: { podCIDR: `10.${n}.0.0/24`, podCIDRs: [`10.${n}.0.0/24`] },
      status: { addresses: [{ type: 'InternalIP', address: `192.168.${n >> 8}.${n & 255}` }] },
    });
  process.stdout.write(`${JSON.stringify({ url: api.url, endpoints })}\n`);
  const lines = createInterface(process.stdin);
  let generation = 0;
  for await (const line of lines) {
    const [cmd, arg] = line.split(' ');
    if (cmd === 'churn') {
      generation++;
      for (let i = 0; i < Number(arg); i++) {
        const s = i % SERVICES;
        api.update('endpointslices', `team-${s % 25}`, `svc-${s}-abcde`, (o) => {
          const { metadata: _keep, ...fresh } = slice(`team-${s % 25}`, `svc-${s}`, perSlice, generation + i);
          Object.assign(o, fresh);
        });
      }
      process.stdout.write('done\n');
    } else if (cmd === 'quit') break;
  }
  await api.close();
  process.stdin.destroy();
}

function slice(ns: string, service: string, count: number, generation: number): Obj {
  return {
    metadata: { name: `${service}-abcde`, namespace: ns, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    endpoints: Array.from({ length: count }, (_, k) => ({
      addresses: [`10.200.${(generation + k) & 255}.${k}`],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: `node-${k % 250}`,
      zone: `z${k % 3}`,
      // A new uid per generation: every update is a change the agent keeps.
      targetRef: { kind: 'Pod', namespace: ns, name: `${service}-pod-${k}`, uid: `uid-${service}-${k}-${generation}` },
    })),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };
}

// --- the measuring side -------------------------------------------------------

async function clusterBench(): Promise<Record<string, number>> {
  const child: ChildProcess = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const out = createInterface(child.stdout!);
  const next = () => new Promise<string>((resolve) => out.once('line', resolve));
  const { url } = JSON.parse(await next()) as { url: string };
  const dir = mkdtempSync(join(tmpdir(), 'hoptrace-k8s-bench-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: b\n  cluster: { server: '${url}', insecure-skip-tls-verify: true }\nusers:\n- name: u\n  user: { token: t }\ncontexts:\n- name: b\n  context: { cluster: b, user: u }\ncurrent-context: b\n`,
  );
  const metrics = new AgentMetrics({ defaultMetrics: false });
  let rows = 0;
  const abort = new AbortController();
  const ctx: SourceContext = {
    node: 'node-a',
    logger: silentLogger,
    metrics,
    queryHasher: new QueryHasher(undefined),
    signal: abort.signal,
    hasCapacity: () => true,
    waitForCapacity: () => Promise.resolve(),
    emit: (records: readonly TableRecord[]) => {
      rows += records.length;
    },
    offer: (records: readonly TableRecord[]) => {
      rows += records.length;
      return true;
    },
    lose: () => {},
    checkpoint: () => undefined,
    setCheckpoint: () => {},
  };
  const source = new KubernetesSource(
    kubernetesSourceSchema.parse({
      type: 'kubernetes',
      kubeconfig,
      kinds: ['services', 'endpointslices', 'nodes'],
      lease: { namespace: 'hoptrace' },
    }),
  );
  const cached = async () => (await metrics.k8sCacheObjects.get()).values.reduce((n, v) => n + v.value, 0);
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const run = source.run(ctx);
  while ((await cached()) < SERVICES * 2 + 250) await new Promise((r) => setTimeout(r, 20));
  const syncSeconds = (performance.now() - t0) / 1000;
  const cpuSync = process.cpuUsage(cpu0);
  const rowsSync = rows;
  gc();
  const heapSynced = process.memoryUsage().heapUsed;

  const cpu1 = process.cpuUsage();
  const rowsBefore = rows;
  child.stdin!.write(`churn ${CHURN}\n`);
  await next();
  while (rows - rowsBefore < CHURN) await new Promise((r) => setTimeout(r, 10));
  if (metrics.drops().length) throw new Error(`rows dropped: ${JSON.stringify(metrics.drops())}`);
  const cpuChurn = process.cpuUsage(cpu1);
  gc();
  const heapAfter = process.memoryUsage().heapUsed;
  abort.abort();
  await run;
  child.stdin!.write('quit\n');
  await new Promise((r) => child.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
  return {
    services: SERVICES,
    endpoint_slices: SERVICES,
    endpoints: ENDPOINTS,
    nodes: 250,
    initial_rows: rowsSync,
    initial_sync_s: Math.round(syncSeconds * 100) / 100,
    initial_sync_cpu_ms: Math.round((cpuSync.user + cpuSync.system) / 1000),
    cache_heap_mib: mib(heapSynced - heap0),
    heap_after_churn_mib: mib(heapAfter - heap0),
    churn_events: CHURN,
    churn_cpu_us_per_event: Math.round((cpuChurn.user + cpuChurn.system) / CHURN),
  };
}

if (process.argv.includes('--serve')) await serve();
else {
  console.log(`hoptrace kubernetes benchmark — node ${process.version}`);
  const idx = podIndexBench();
  console.log(
    `pod index: ${idx.index_mib_per_1000} MiB per 1,000 pods (${idx.pods} pods of ${idx.raw_json_kib_per_pod} KiB raw JSON each; the parsed objects themselves: ${idx.parsed_mib_per_1000} MiB per 1,000)`,
  );
  const c = await clusterBench();
  console.log(
    `cluster watches (${c.services} Services, ${c.endpoint_slices} EndpointSlices with ${c.endpoints} endpoints, ${c.nodes} Nodes):`,
  );
  console.log(
    `  initial LIST → ${c.initial_rows} SNAPSHOT rows in ${c.initial_sync_s} s, ${c.initial_sync_cpu_ms} ms CPU; cache ${c.cache_heap_mib} MiB heap`,
  );
  console.log(
    `  ${c.churn_events} EndpointSlice updates through the watch: ${c.churn_cpu_us_per_event} µs CPU per event; cache heap after ${c.heap_after_churn_mib} MiB`,
  );
}

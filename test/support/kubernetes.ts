// Helpers for the Kubernetes source tests: an agent wired to the test API
// server, objects shaped like the API server's, and landed rows read back
// with pyarrow.
import { Agent } from '../../agent/src/agent.ts';
import { kubernetesSourceSchema } from '../../agent/src/sources/kubernetes/config.ts';
import { KubernetesSource } from '../../agent/src/sources/kubernetes/kubernetes-source.ts';
import type { ObjectStore } from '../../agent/src/store/store.ts';
import { testConfig } from './agent.ts';
import type { KubeApiServer, Obj } from './kube-apiserver.ts';
import { runPython } from './python.ts';

export interface KubeAgent {
  readonly agent: Agent;
  readonly source: KubernetesSource;
  readonly landing: string;
}

/** A real agent (spool, Parquet, local store) whose Kubernetes source talks to `api`. */
export async function startKubeAgent(
  dir: string,
  api: KubeApiServer,
  options: {
    node?: string;
    token?: string;
    source?: Record<string, unknown>;
    config?: Record<string, unknown>;
    store?: ObjectStore;
  } = {},
): Promise<KubeAgent> {
  const node = options.node ?? 'node-a';
  const kubeconfig = api.writeKubeconfig(`${dir}/kubeconfig-${node}`, options.token ?? `token-${node}`);
  const source = new KubernetesSource(
    kubernetesSourceSchema.parse({
      type: 'kubernetes',
      kubeconfig,
      lease: { namespace: 'hoptrace', duration: '2s', renew_deadline: '1200ms', retry_period: '250ms' },
      watch: { backoff_initial: '50ms', backoff_max: '500ms' },
      ...options.source,
    }),
  );
  const config = testConfig(`${dir}/${node}`, { node_name: node, batch: { max_age: '200ms' }, ...options.config });
  const agent = new Agent(config, { extraSources: [source], ...(options.store ? { store: options.store } : {}) });
  await agent.start('follow');
  return { agent, source, landing: `${dir}/${node}/landing` };
}

export function pod(
  name: string,
  node: string | undefined,
  extra: { ip?: string; namespace?: string; labels?: Record<string, string>; spec?: Obj; status?: Obj } = {},
): Obj {
  return {
    metadata: { name, namespace: extra.namespace ?? 'shop', labels: extra.labels ?? { app: name } },
    spec: { ...(node ? { nodeName: node } : {}), containers: [{ name: 'app', image: `${name}:1` }], ...extra.spec },
    status: {
      phase: 'Running',
      ...(extra.ip ? { podIP: extra.ip, podIPs: [{ ip: extra.ip }] } : {}),
      containerStatuses: [{ name: 'app', containerID: `containerd://${name}-cid`, ready: true }],
      ...extra.status,
    },
  };
}

export function service(name: string, clusterIP: string, extra: Obj = {}): Obj {
  return {
    metadata: { name, namespace: 'shop', ...(extra.metadata ?? {}) },
    spec: { type: 'ClusterIP', clusterIP, clusterIPs: [clusterIP], ports: [{ port: 80, targetPort: 8080 }] },
  };
}

export type Row = Record<string, unknown>;

/** Every landed row of `table` under `root`, as JSON (timestamps as strings). */
export function readRows(root: string, table: string): Promise<Row[]> {
  return runPython<Row[]>(
    `
import json, os, sys
import pyarrow.parquet as pq
root, table = sys.argv[1], sys.argv[2]
rows = []
for d, _, files in os.walk(root):
    for f in sorted(files):
        path = os.path.join(d, f)
        if f.endswith('.parquet') and f'/v1/{table}/' in path:
            rows.extend(pq.read_table(path).to_pylist())
print(json.dumps(rows, default=str))
`,
    [root, table],
  );
}

export async function metricValue(agent: Agent, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = agent.metrics.registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l))
    .reduce((n, v) => n + v.value, 0);
}

/** Polls an async condition; the limit only keeps a broken test from hanging. */
export async function eventually(condition: () => Promise<boolean>, what: string, limitMs = 60_000): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > limitMs) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// The Helm chart: lint, render every ci/ values file, and check what reaches the cluster —
// required fields, read-only host mounts, exactly the RBAC the agent needs, the values schema,
// and that the rendered agent configuration passes `hoptrace check-config`.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse as parseYaml, stringify } from 'yaml';
import { parseConfig } from '../../agent/src/config/load.ts';
import {
  agentConfigMap,
  CHART,
  checkRenderedConfig,
  helm,
  type Manifest,
  parseManifests,
  podEnv,
  type Rendered,
  ROOT,
  render,
  renderRaw,
} from './support.ts';

const work = mkdtempSync(join(tmpdir(), 'hoptrace-chart-'));
after(() => rmSync(work, { recursive: true, force: true }));

const CI = join(CHART, 'ci');
const ciFiles = readdirSync(CI)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => join(CI, f));

const SPOOL = '/var/lib/hoptrace';

/** Every pod-spec field the issue asks for, on one rendered DaemonSet. */
function checkDaemonSet(ds: Manifest, config: Record<string, unknown>, label: string): void {
  const spec = ds.spec;
  const pod = spec.template.spec;
  const [c, ...others] = pod.containers;
  assert.equal(others.length, 0, `${label}: one container`);
  assert.equal(spec.updateStrategy.type, 'RollingUpdate', label);
  assert.ok(spec.updateStrategy.rollingUpdate.maxUnavailable, `${label}: maxUnavailable`);
  assert.ok([0, '0', '0%'].includes(spec.updateStrategy.rollingUpdate.maxSurge), `${label}: maxSurge 0`);
  assert.deepEqual(spec.selector.matchLabels, {
    'app.kubernetes.io/name': 'hoptrace',
    'app.kubernetes.io/instance': 'hoptrace',
  });
  for (const [k, v] of Object.entries(spec.selector.matchLabels)) assert.equal(spec.template.metadata.labels[k], v);
  assert.ok(
    pod.tolerations.some((t: { operator?: string; key?: string }) => t.operator === 'Exists' && !t.key),
    `${label}: tolerates every taint`,
  );
  assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory, label);
  assert.match(ds.spec.template.metadata.annotations['checksum/config'], /^[0-9a-f]{64}$/);

  const env = Object.fromEntries(c.env.map((e: { name: string }) => [e.name, e]));
  assert.equal(
    env.NODE_NAME.valueFrom.fieldRef.fieldPath,
    'spec.nodeName',
    `${label}: node name from the downward API`,
  );
  assert.equal(env.POD_NAMESPACE.valueFrom.fieldRef.fieldPath, 'metadata.namespace');

  // Security: no privilege escalation, read-only root, every capability dropped and none
  // added, seccomp RuntimeDefault.
  const sc = c.securityContext;
  assert.equal(sc.allowPrivilegeEscalation, false, label);
  assert.equal(sc.readOnlyRootFilesystem, true, label);
  assert.equal(sc.privileged, false, label);
  assert.deepEqual(sc.capabilities.drop, ['ALL'], label);
  assert.equal(sc.capabilities.add, undefined, `${label}: no capability added`);
  assert.equal((sc.seccompProfile ?? pod.securityContext.seccompProfile).type, 'RuntimeDefault');
  assert.equal(pod.hostNetwork, undefined);
  assert.equal(pod.hostPID, undefined);

  // Mounts: every hostPath is read-only except the spool; the spool is where the config says.
  const volumes = new Map<string, { hostPath?: { path: string } }>(
    pod.volumes.map((v: { name: string }) => [v.name, v]),
  );
  const mounts = c.volumeMounts as { name: string; mountPath: string; readOnly?: boolean }[];
  for (const m of mounts) {
    const v = volumes.get(m.name);
    assert.ok(v, `${label}: volume ${m.name} exists`);
    if (!v.hostPath) continue;
    if (m.mountPath === SPOOL) {
      assert.notEqual(m.readOnly, true, `${label}: the spool is writable`);
      assert.equal(v.hostPath.path, SPOOL);
    } else {
      assert.equal(m.readOnly, true, `${label}: host mount ${m.mountPath} must be read-only`);
    }
  }
  assert.equal(mounts.find((m) => m.name === 'config')?.readOnly, true);
  assert.equal((config.spool as { dir: string }).dir, SPOOL);

  // Every host path the configuration names — with the agent's defaults applied, such as the
  // container-logs globs and the Hubble socket — is inside a mount.
  const parsed = parseConfig(stringify(config), '/etc/hoptrace/config.yaml', podEnv(ds));
  const paths = hostPathsIn(parsed);
  assert.ok(paths.includes(SPOOL));
  for (const path of paths) {
    assert.ok(
      mounts.some((m) => path === m.mountPath || path.startsWith(`${m.mountPath}/`)),
      `${label}: ${path} (from the config) is not mounted`,
    );
  }

  // Probes and the metrics port follow config.server.port.
  const port = (config.server as { port?: number } | undefined)?.port ?? 9464;
  const metrics = c.ports.find((p: { name: string }) => p.name === 'metrics');
  assert.equal(metrics.containerPort, port);
  assert.equal(c.livenessProbe.httpGet.path, '/healthz');
  assert.equal(c.readinessProbe.httpGet.path, '/readyz');
  assert.equal(c.livenessProbe.httpGet.port, 'metrics');
}

/** Absolute paths (and unix:// socket paths) in the agent configuration, globs cut at the first wildcard. */
function hostPathsIn(value: unknown, key = ''): string[] {
  if (typeof value === 'string') {
    const path = value.startsWith('unix://') ? value.slice('unix://'.length) : value;
    if (!path.startsWith('/') || key === 'exclude') return [];
    const cut = path.split(/[*?[{]/)[0]!;
    return [cut.endsWith('/') ? cut.slice(0, -1) : cut];
  }
  if (Array.isArray(value)) return value.flatMap((v) => hostPathsIn(v, key));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => hostPathsIn(v, k));
  return [];
}

function configOf(r: Rendered): Record<string, unknown> {
  return parseYaml(agentConfigMap(r).data['config.yaml']) as Record<string, unknown>;
}

test('helm lint --strict passes for every ci values file', async () => {
  assert.ok(ciFiles.length >= 4, 'ci values files');
  for (const file of ciFiles) {
    const r = await helm(['lint', '--strict', CHART, '--values', file]);
    assert.equal(r.code, 0, `${file}:\n${r.stdout}${r.stderr}`);
  }
});

test('every ci values file renders a complete DaemonSet whose configuration passes check-config', async () => {
  for (const file of ciFiles) {
    const r = await render({ values: [file] });
    const label = file.slice(ROOT.length + 1);
    for (const m of r.manifests) {
      assert.ok(m.apiVersion && m.kind && m.metadata?.name, `${label}: ${JSON.stringify(m).slice(0, 80)}`);
      assert.equal(m.metadata.labels?.['app.kubernetes.io/name'], 'hoptrace', `${label}: ${m.kind} labels`);
      if (!['ClusterRole', 'ClusterRoleBinding'].includes(m.kind))
        assert.ok(m.metadata.namespace, `${label}: ${m.kind}`);
    }
    const config = configOf(r);
    checkDaemonSet(r.one('DaemonSet'), config, label);
    const checked = await checkRenderedConfig(r, work);
    assert.equal(checked.code, 0, `${label}: check-config:\n${checked.stderr}`);
    assert.match(checked.stdout, /ok \(node ip-10-0-12-34\.eu-west-1\.compute\.internal, store s3/);
  }
});

test('a configuration change rolls the pods (checksum) and nothing else does', async () => {
  const base = await render({ values: [join(CI, 'default-values.yaml')] });
  const same = await render({ values: [join(CI, 'default-values.yaml')], set: { 'podLabels.team': 'a' } });
  const changed = await render({ values: [join(CI, 'default-values.yaml')], set: { 'config.log.level': 'debug' } });
  const sum = (r: Rendered) => r.one('DaemonSet').spec.template.metadata.annotations['checksum/config'];
  assert.equal(sum(base), sum(same));
  assert.notEqual(sum(base), sum(changed));
  assert.equal((configOf(changed).log as { level: string }).level, 'debug');
  // The checksum is the hash of what the ConfigMap holds (up to the trailing newline).
  const text = agentConfigMap(base).data['config.yaml'] as string;
  const hashes = [text, text.trimEnd(), `${text.trimEnd()}\n`].map((t) => createHash('sha256').update(t).digest('hex'));
  assert.ok(hashes.includes(sum(base)));
});

test('RBAC: exactly get/list/watch on the kinds the kubernetes source reads, and get/create/update on its Lease', async () => {
  const r = await render({ values: [join(CI, 'default-values.yaml')] });
  const rules = (m: Manifest) =>
    (m.rules as { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }[]).map((x) => ({
      ...x,
      resources: [...x.resources].sort(),
    }));
  assert.deepEqual(rules(r.one('ClusterRole')), [
    { apiGroups: [''], resources: ['nodes', 'pods', 'services'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['get', 'list', 'watch'] },
  ]);
  const role = r.one('Role');
  assert.equal(role.metadata.namespace, 'observability');
  assert.deepEqual(rules(role), [
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    {
      apiGroups: ['coordination.k8s.io'],
      resources: ['leases'],
      resourceNames: ['hoptrace-cluster-export'],
      verbs: ['get', 'update'],
    },
  ]);
  // No wildcard and no write verb anywhere but the Lease.
  for (const m of [...r.all('ClusterRole'), ...r.all('Role')])
    for (const rule of rules(m)) {
      assert.ok(!rule.verbs.includes('*') && !rule.resources.includes('*') && !rule.apiGroups.includes('*'));
      if (!rule.resources.includes('leases'))
        assert.deepEqual(
          rule.verbs.filter((v) => !['get', 'list', 'watch'].includes(v)),
          [],
        );
    }
  const sa = r.one('ServiceAccount');
  for (const binding of [r.one('ClusterRoleBinding'), r.one('RoleBinding')])
    assert.deepEqual(binding.subjects, [
      { kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'observability' },
    ]);
  assert.equal(r.one('ClusterRoleBinding').roleRef.name, r.one('ClusterRole').metadata.name);
  assert.equal(r.one('RoleBinding').roleRef.name, role.metadata.name);
  assert.equal(r.one('DaemonSet').spec.template.spec.automountServiceAccountToken, true);

  // The core Events API, fewer kinds, and a Lease elsewhere follow the source's configuration.
  const v = await render({ values: [join(CI, 'variants-values.yaml')] });
  assert.deepEqual(rules(v.one('ClusterRole')), [
    { apiGroups: [''], resources: ['events', 'pods', 'services'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
  ]);
  assert.equal(v.one('Role').metadata.namespace, 'hoptrace-leases');
  assert.deepEqual(v.one('Role').rules[1].resourceNames, ['node-agent-export']);
  assert.equal(v.one('RoleBinding').subjects[0].namespace, 'observability');

  // Only this node's pods: no Lease, so no Role.
  const podsOnly = await render({
    values: [join(CI, 'default-values.yaml')],
    setJson: { 'config.sources': { kubernetes: { type: 'kubernetes', kinds: ['pods'] } } },
  });
  assert.deepEqual(rules(podsOnly.one('ClusterRole')), [
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
  ]);
  assert.equal(podsOnly.all('Role').length, 0);

  // No kubernetes source: no API access at all.
  const none = await render({ values: [join(CI, 'otlp-only-values.yaml')] });
  for (const kind of ['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'])
    assert.equal(none.all(kind).length, 0);
  assert.equal(none.one('DaemonSet').spec.template.spec.automountServiceAccountToken, false);
  assert.equal(none.one('ServiceAccount').automountServiceAccountToken, false);
});

test('host directories are mounted read-only only for the sources that read them', async () => {
  const mountsOf = (r: Rendered) =>
    Object.fromEntries(
      r
        .one('DaemonSet')
        .spec.template.spec.containers[0].volumeMounts.map((m: { mountPath: string; readOnly?: boolean }) => [
          m.mountPath,
          m.readOnly === true,
        ]),
    );
  const none = await render({ values: [join(CI, 'otlp-only-values.yaml')] });
  assert.deepEqual(mountsOf(none), { '/etc/hoptrace': true, [SPOOL]: false, '/tmp': false });

  // Mounts follow source types, whether or not the agent build knows them yet.
  const all = await render({
    values: [join(CI, 'default-values.yaml')],
    setJson: {
      'config.sources': {
        containerLogs: null,
        logs: { type: 'container-logs' },
        hubble: { type: 'hubble', enabled: true },
        calico: { type: 'calico' },
        off: { type: 'otlp', enabled: false },
        kubernetes: null,
        otlp: null,
      },
    },
  });
  assert.deepEqual(mountsOf(all), {
    '/etc/hoptrace': true,
    [SPOOL]: false,
    '/tmp': false,
    '/var/log/calico/flowlogs': true,
    '/var/log/containers': true,
    '/var/log/pods': true,
    '/var/run/cilium': true,
  });
  const ds = all.one('DaemonSet');
  const hostPaths = Object.fromEntries(
    ds.spec.template.spec.volumes
      .filter((v: { hostPath?: unknown }) => v.hostPath)
      .map((v: { hostPath: { path: string; type: string } }) => [v.hostPath.path, v.hostPath.type]),
  );
  assert.deepEqual(hostPaths, {
    [SPOOL]: 'DirectoryOrCreate',
    '/var/log/calico/flowlogs': 'DirectoryOrCreate',
    '/var/log/containers': 'Directory',
    '/var/log/pods': 'Directory',
    '/var/run/cilium': 'DirectoryOrCreate',
  });
  // enabled: false leaves the source out; the key `enabled` never reaches the agent.
  const config = configOf(all);
  assert.deepEqual(
    (config.sources as { type: string }[]).map((s) => s.type),
    ['calico', 'hubble', 'container-logs'],
  );
  assert.ok((config.sources as object[]).every((s) => !('enabled' in s)));
  // An extra host mount is read-only unless it says otherwise.
  const v = await render({ values: [join(CI, 'variants-values.yaml')] });
  assert.equal(mountsOf(v)['/var/lib/docker/containers'], true);
});

test('OTLP Service keeps traffic on the node; metrics Service, ServiceMonitor and PodMonitor scrape every agent', async () => {
  const r = await render({ values: [join(CI, 'production-values.yaml')] });
  const otlp = r.one('Service', '-otlp');
  assert.equal(otlp.spec.internalTrafficPolicy, 'Local');
  assert.deepEqual(
    otlp.spec.ports.map((p: { name: string; port: number; targetPort: string }) => [p.name, p.port, p.targetPort]),
    [
      ['otlp-grpc', 4317, 'otlp-grpc'],
      ['otlp-http', 4318, 'otlp-http'],
    ],
  );
  const ds = r.one('DaemonSet');
  const ports = ds.spec.template.spec.containers[0].ports as {
    name: string;
    containerPort: number;
    hostPort?: number;
  }[];
  for (const p of otlp.spec.ports) assert.ok(ports.some((c) => c.name === p.targetPort && c.containerPort === p.port));
  assert.ok(ports.every((p) => p.hostPort === undefined));
  for (const [k, v] of Object.entries(otlp.spec.selector))
    assert.equal(ds.spec.template.metadata.labels[k], v, 'OTLP Service selects the agents');

  const metrics = r.one('Service', '-metrics');
  assert.equal(metrics.spec.clusterIP, 'None');
  const sm = r.one('ServiceMonitor');
  for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) assert.equal(metrics.metadata.labels[k], v);
  assert.equal(sm.metadata.labels.release, 'kube-prometheus-stack');
  const relabel = sm.spec.endpoints[0].relabelings as {
    targetLabel: string;
    replacement?: string;
    sourceLabels?: string[];
  }[];
  assert.deepEqual(relabel.find((x) => x.targetLabel === 'node')?.sourceLabels, ['__meta_kubernetes_pod_node_name']);
  assert.equal(relabel.find((x) => x.targetLabel === 'job')?.replacement, 'hoptrace');
  assert.equal(r.all('PodMonitor').length, 0);
  const sa = r.one('ServiceAccount');
  assert.equal(sa.metadata.annotations['eks.amazonaws.com/role-arn'], 'arn:aws:iam::123456789012:role/hoptrace-agent');
  assert.equal(
    ds.spec.template.spec.containers[0].image,
    '123456789012.dkr.ecr.eu-west-1.amazonaws.com/hoptrace/agent@sha256:0f6e0c0a4b5d3e1f2a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b',
  );

  // Variants: custom ports, host ports, a PodMonitor, only gRPC.
  const v = await render({ values: [join(CI, 'variants-values.yaml')] });
  const vOtlp = v.one('Service', '-otlp');
  assert.deepEqual(
    vOtlp.spec.ports.map((p: { port: number }) => p.port),
    [14317],
  );
  const vPorts = v.one('DaemonSet').spec.template.spec.containers[0].ports as {
    name: string;
    containerPort: number;
    hostPort?: number;
  }[];
  assert.deepEqual(
    vPorts.find((p) => p.name === 'otlp-grpc'),
    {
      name: 'otlp-grpc',
      containerPort: 14317,
      protocol: 'TCP',
      hostPort: 14317,
    },
  );
  assert.equal(vPorts.find((p) => p.name === 'metrics')?.containerPort, 9500);
  assert.equal(v.one('Service', '-metrics').spec.ports[0].port, 9500);
  assert.equal(v.one('PodMonitor').spec.podMetricsEndpoints[0].port, 'metrics');
  assert.equal(v.all('ServiceMonitor').length, 0);
  assert.equal(v.one('DaemonSet').spec.template.spec.priorityClassName, undefined);

  // No OTLP source: no OTLP Service and no OTLP ports.
  const noOtlp = await render({
    values: [join(CI, 'default-values.yaml')],
    setJson: { 'config.sources': { otlp: null } },
  });
  assert.equal(noOtlp.all('Service').length, 1);
});

/** hoptrace_* metric names documented in docs/metrics.md and in the sources' READMEs. */
function documentedMetrics(): Set<string> {
  const names = new Set<string>();
  const docs = [join(ROOT, 'docs/metrics.md')];
  const sources = join(ROOT, 'agent/src/sources');
  for (const d of readdirSync(sources, { withFileTypes: true }))
    if (d.isDirectory()) docs.push(join(sources, d.name, 'README.md'));
  for (const file of docs) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(/`(hoptrace_[a-z0-9_]+)`/g)) names.add(m[1]!);
  }
  return names;
}

/** Metric names an expression reads, with histogram suffixes folded onto the family. */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\b(hoptrace_[a-z0-9_]+)/g)].map((m) => m[1]!.replace(/_(bucket|count|sum)$/, ''));
}

function balanced(expr: string): boolean {
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  const stack: string[] = [];
  let quoted = false;
  for (let i = 0; i < expr.length; i++) {
    const ch = expr[i]!;
    if (ch === '\\') i++;
    else if (ch === '"') quoted = !quoted;
    else if (quoted) continue;
    else if ('([{'.includes(ch)) stack.push(ch);
    else if (pairs[ch] && stack.pop() !== pairs[ch]) return false;
  }
  return stack.length === 0 && !quoted;
}

test('alerts: documented, on documented metrics, scoped to the release, with runbook links and a working disable list', async () => {
  const r = await render({ values: [join(CI, 'production-values.yaml')] });
  const rule = r.one('PrometheusRule');
  assert.equal(rule.metadata.labels.release, 'kube-prometheus-stack');
  const alerts = rule.spec.groups.flatMap((g: { rules: unknown[] }) => g.rules) as {
    alert: string;
    expr: string;
    for?: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  }[];
  const names = alerts.map((a) => a.alert);
  for (const required of [
    'HoptraceAgentDown',
    'HoptraceSpoolFilling',
    'HoptraceUploadErrors',
    'HoptraceRecordsDropped',
    'HoptraceRecordsLost',
    'HoptraceLandingLatencyBudgetBurn',
    'HoptraceHubbleLostEvents',
  ])
    assert.ok(names.includes(required), `alert ${required}`);
  assert.equal(new Set(names).size, names.length, 'alert names are unique');

  const metrics = documentedMetrics();
  const operations = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
  for (const a of alerts) {
    assert.ok(['critical', 'warning'].includes(a.labels.severity), `${a.alert}: severity`);
    assert.equal(a.labels.team, 'platform', `${a.alert}: additional labels`);
    assert.ok(a.annotations.summary && a.annotations.description, `${a.alert}: summary and description`);
    assert.equal(
      a.annotations.runbook_url,
      `https://runbooks.example.com/hoptrace/operations#${a.alert.toLowerCase()}`,
    );
    assert.ok(operations.includes(`### ${a.alert}\n`), `${a.alert} has a section in docs/operations.md`);
    assert.ok(balanced(a.expr), `${a.alert}: brackets balance in ${a.expr}`);
    for (const m of metricsIn(a.expr)) assert.ok(metrics.has(m), `${a.alert}: ${m} is not a documented metric`);
    if (metricsIn(a.expr).length)
      for (const sel of a.expr.matchAll(/hoptrace_[a-z0-9_]+\{([^}]*)\}/g))
        assert.match(sel[1]!, /job="hoptrace"/, `${a.alert}: every selector is scoped to the release`);
  }
  // The landing SLO reads a bucket bound the histogram has, in both exposition spellings.
  const burn = alerts.find((a) => a.alert === 'HoptraceLandingLatencyBudgetBurn')!;
  assert.match(burn.expr, /le=~"60\(\\\\\.0\)\?"/);
  assert.match(burn.expr, /> 0\.144\b/);

  const v = await render({ values: [join(CI, 'variants-values.yaml')] });
  const vNames = v
    .one('PrometheusRule')
    .spec.groups.flatMap((g: { rules: { alert: string; expr: string }[] }) => g.rules) as {
    alert: string;
    expr: string;
  }[];
  assert.ok(!vNames.some((a) => a.alert === 'HoptraceSourcePaused'), 'disabled alert left out');
  assert.ok(!vNames.some((a) => a.alert === 'HoptraceDaemonSetIncomplete'), 'no kube-state-metrics alerts');
  assert.ok(!vNames.some((a) => a.alert === 'HoptraceHubbleLostEvents'), 'no Hubble alert without a Hubble source');
  assert.match(vNames.find((a) => a.alert === 'HoptraceAgentDown')!.expr, /job="node-agent"/);
  assert.match(vNames.find((a) => a.alert === 'HoptraceLandingLatencySlow')!.expr, /le=~"90\(.*> 0\.03\b/s);
});

test('the Grafana dashboard is valid JSON whose panels query documented metrics', async () => {
  const r = await render({ values: [join(CI, 'production-values.yaml')] });
  const cm = r.one('ConfigMap', '-dashboard');
  assert.equal(cm.metadata.labels.grafana_dashboard, '1');
  const dashboard = JSON.parse(cm.data['hoptrace-agents.json']) as {
    uid: string;
    panels: { id: number; type: string; title: string; targets?: { expr: string }[] }[];
  };
  assert.deepEqual(dashboard, JSON.parse(readFileSync(join(CHART, 'files/dashboard.json'), 'utf8')));
  const ids = dashboard.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  const metrics = documentedMetrics();
  const queried = new Set<string>();
  for (const p of dashboard.panels)
    for (const t of p.targets ?? []) {
      assert.ok(balanced(t.expr), `${p.title}: ${t.expr}`);
      for (const m of metricsIn(t.expr)) {
        assert.ok(metrics.has(m), `${p.title}: ${m} is not a documented metric`);
        queried.add(m);
      }
    }
  for (const m of ['hoptrace_records_dropped_total', 'hoptrace_records_lost_total', 'hoptrace_spool_bytes'])
    assert.ok(queried.has(m), `dashboard shows ${m}`);
  const off = await render({ values: [join(CI, 'default-values.yaml')] });
  assert.equal(off.all('PrometheusRule').length + off.all('ServiceMonitor').length, 0);
  assert.equal(off.all('ConfigMap').length, 1);
});

test('the values schema rejects bad input at install, naming the key', async () => {
  const base = join(CI, 'default-values.yaml');
  const cases: [
    string,
    { set?: Record<string, string>; setJson?: Record<string, unknown>; values?: string[] },
    RegExp,
  ][] = [
    ['no bucket', { values: [], setJson: {} }, /config\/store\/bucket|bucket/],
    ['bad bucket name', { set: { 'config.store.bucket': 'Not_A_Bucket' } }, /\/config\/store\/bucket/],
    ['unknown store type', { set: { 'config.store.type': 'gcs' } }, /\/config\/store\/type/],
    ['spool dir is the chart’s', { set: { 'config.spool.dir': '/data' } }, /\/config\/spool\/dir/],
    ['node_name is the chart’s', { set: { config: '' }, setJson: { 'config.node_name': 'n1' } }, /\/config\/node_name/],
    ['server off', { setJson: { 'config.server.enabled': false } }, /\/config\/server\/enabled/],
    ['surge on a hostPath spool', { setJson: { 'updateStrategy.rollingUpdate.maxSurge': 1 } }, /maxSurge/],
    ['escalation', { setJson: { 'securityContext.allowPrivilegeEscalation': true } }, /allowPrivilegeEscalation/],
    ['privileged', { setJson: { 'securityContext.privileged': true } }, /privileged/],
    ['bad digest', { set: { 'image.digest': 'latest' } }, /\/image\/digest/],
    ['relative spool path', { set: { 'spool.hostPath': 'var/lib/hoptrace' } }, /\/spool\/hostPath/],
    ['source without type', { setJson: { 'config.sources.x': { name: 'x' } } }, /\/config\/sources/],
    ['typo at the top level', { setJson: { tolerationz: [] } }, /tolerationz/],
    ['unknown alert', { setJson: { 'prometheusRule.disabled': ['HoptraceNope'] } }, /\/prometheusRule\/disabled/],
    ['SLO off the buckets', { setJson: { 'prometheusRule.landingSloSeconds': 61 } }, /landingSloSeconds/],
    [
      'both monitors',
      { setJson: { 'metrics.serviceMonitor.enabled': true, 'metrics.podMonitor.enabled': true } },
      /serviceMonitor|podMonitor|not/,
    ],
  ];
  for (const [what, opts, message] of cases) {
    const values = opts.values ?? [base];
    const set = { ...opts.set };
    if (what.startsWith('node_name')) delete set.config;
    const r = await renderRaw({ values, set, setJson: opts.setJson ?? {} });
    assert.notEqual(r.code, 0, `${what}: accepted`);
    assert.match(r.stderr, /values don't meet the specifications of the schema/, what);
    assert.match(r.stderr, message, `${what}: ${r.stderr}`);
  }
  // And the same values without the mistake render.
  assert.equal((await renderRaw({ values: [base] })).code, 0);
});

test('NOTES.txt renders the sources, the store and the way to check an agent', async () => {
  // helm template does not print NOTES.txt; render it as a template of a copy of the chart.
  const copy = join(work, 'chart');
  cpSync(CHART, copy, { recursive: true });
  const notes = readFileSync(join(copy, 'templates/NOTES.txt'), 'utf8');
  writeFileSync(
    join(copy, 'templates/_notes_under_test.tpl'),
    `{{- define "notes-under-test" -}}\n${notes}{{- end -}}`,
  );
  writeFileSync(join(copy, 'templates/notes-under-test.yaml'), 'notes: {{ include "notes-under-test" . | toJson }}\n');
  const r = await helm([
    'template',
    'hoptrace',
    copy,
    '-n',
    'observability',
    '--values',
    join(CI, 'production-values.yaml'),
    '--show-only',
    'templates/notes-under-test.yaml',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const text = parseManifests(r.stdout).manifests[0]!.notes as string;
  assert.match(text, /Sources: container-logs, hubble, kubernetes, otlp/);
  assert.match(text, /s3:\/\/acme-hoptrace-landing\/prod\/hoptrace\/v1\//);
  assert.match(text, /otlp-grpc: hoptrace-otlp\.observability\.svc:4317/);
  assert.match(text, /hoptrace\.ts status/);
  assert.doesNotMatch(text, /not scraped yet/);
});

// The container-logs source on a kubelet-shaped directory of real files: pod
// metadata from paths and links, filters and parser rules, CRI partial
// records and Docker json-file, and the accounting of every line (rows,
// skipped kinds, malformed drops, broken framing).
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { TestSourceContext } from '../../../../test/support/source-context.ts';
import { tempDir } from '../../../../test/support/tmp.ts';
import { parseConfig } from '../../config/load.ts';
import type { SourceConfig } from '../../config/schema.ts';
import type { HttpRequestRow } from '../../contract/generated.ts';
import { recordId } from '../../contract/record-id.ts';
import type { ContainerLogsConfig } from './config.ts';
import { fromContainersPath, fromPodsPath, podRefOf } from './kubelet-path.ts';
import { ContainerLogsSource, recordIds } from './source.ts';
import {
  criLines,
  dockerLines,
  ENVOY,
  ENVOY_NON_ACCESS,
  GATEWAY_POD,
  INGRESS_POD,
  NGINX,
  NGINX_MALFORMED,
  NGINX_NON_ACCESS,
  podLogPath,
  SIDECAR_POD,
  writePodLog,
} from './testdata/fixtures.ts';

function sourceConfig(dir: string, source: Record<string, unknown>): ContainerLogsConfig {
  const config = parseConfig(
    JSON.stringify({
      node_name: 'node-a',
      spool: { dir: 'spool' },
      store: { type: 'local', dir: 'landing' },
      sources: [{ type: 'container-logs', include: ['pods/*/*/*.log'], start_at: 'beginning', ...source }],
    }),
    join(dir, 'hoptrace.yaml'),
    {},
  );
  return config.sources[0] as Extract<SourceConfig, { type: 'container-logs' }>;
}

async function drain(
  config: ContainerLogsConfig,
  ctx = new TestSourceContext(),
): Promise<{ ctx: TestSourceContext; rows: HttpRequestRow[] }> {
  await new ContainerLogsSource(config).run(ctx, 'drain');
  return { ctx, rows: ctx.records.map((r) => r.row as HttpRequestRow) };
}

function counter(ctx: TestSourceContext, metric: 'containerLogLines', labels: Record<string, string>): number {
  const map = (
    ctx.metrics[metric] as unknown as { hashMap: Record<string, { labels: Record<string, string>; value: number }> }
  ).hashMap;
  return Object.values(map)
    .filter((e) => Object.entries(labels).every(([k, v]) => e.labels[k] === v))
    .reduce((n, e) => n + e.value, 0);
}

const dropsOf = (ctx: TestSourceContext, reason: string) =>
  ctx.metrics
    .drops()
    .filter((d) => d.reason === reason)
    .reduce((n, d) => n + d.count, 0);

test('kubelet paths: pods layout, rotated files, container links', () => {
  assert.deepEqual(fromPodsPath('/var/log/pods/shop_web-5d9f_0f0e0d0c-1111-2222-3333-444455556666/nginx/3.log'), {
    namespace: 'shop',
    pod: 'web-5d9f',
    uid: '0f0e0d0c-1111-2222-3333-444455556666',
    container: 'nginx',
  });
  assert.equal(
    fromPodsPath('/var/log/pods/shop_web-5d9f_0f0e0d0c-1111-2222-3333-444455556666/nginx/3.log.20261125-070000')
      ?.container,
    'nginx',
  );
  assert.equal(fromPodsPath('/var/log/pods/not-a-pod-dir/nginx/0.log'), undefined);
  const id = 'a'.repeat(64);
  assert.deepEqual(fromContainersPath(`/var/log/containers/web-5d9f.x_shop_istio-proxy-${id}.log`), {
    namespace: 'shop',
    pod: 'web-5d9f.x',
    container: 'istio-proxy',
  });
  assert.equal(
    podRefOf(`/var/log/containers/web_shop_nginx-${id}.log`, '/var/log/pods/shop_web_0f0e0d0c-1111/nginx/0.log')?.uid,
    '0f0e0d0c-1111',
  );
});

test('ingress and sidecar logs in CRI files become rows with pod metadata; every other line is counted', async () => {
  const dir = tempDir();
  const pods = join(dir, 'pods');
  writePodLog(
    pods,
    INGRESS_POD,
    criLines([NGINX.upstreaminfo, NGINX_NON_ACCESS.klog, NGINX_NON_ACCESS.error, NGINX_MALFORMED, NGINX.retries], 64),
  );
  writePodLog(pods, SIDECAR_POD, criLines([ENVOY.outbound, ENVOY.inbound, ENVOY_NON_ACCESS.envoyApp, ENVOY.tcp]));
  writePodLog(pods, GATEWAY_POD, criLines([ENVOY.outbound]));
  // Containers without a parser rule are not read at all.
  writePodLog(pods, { ...SIDECAR_POD, container: 'reviews' }, criLines([NGINX.upstreaminfo]));
  const { ctx, rows } = await drain(sourceConfig(dir, {}));
  assert.equal(rows.length, 5);
  const ingress = rows.filter((r) => r.proxy === 'ingress-nginx');
  assert.deepEqual(
    ingress.map((r) => [r.namespace, r.pod, r.pod_uid, r.container, r.role, r.request_id]),
    [
      [
        INGRESS_POD.namespace,
        INGRESS_POD.pod,
        INGRESS_POD.uid,
        'controller',
        'ingress',
        '7f3c2a9b4d5e6f708192a3b4c5d6e7f8',
      ],
      [INGRESS_POD.namespace, INGRESS_POD.pod, INGRESS_POD.uid, 'controller', 'ingress', 'req-42'],
    ],
  );
  const roles = rows.filter((r) => r.proxy === 'envoy').map((r) => `${r.pod}:${r.role}`);
  assert.deepEqual(roles.sort(), [
    `${GATEWAY_POD.pod}:gateway`,
    `${SIDECAR_POD.pod}:sidecar_inbound`,
    `${SIDECAR_POD.pod}:sidecar_outbound`,
  ]);
  for (const r of rows) {
    assert.match(r.record_id, /^[0-9a-f]{32}$/);
    assert.equal(r.source, 'container-logs');
    assert.equal(r.node, 'node-a');
  }
  assert.equal(new Set(rows.map((r) => r.record_id)).size, 5);
  assert.equal(counter(ctx, 'containerLogLines', { kind: 'klog' }), 1);
  assert.equal(counter(ctx, 'containerLogLines', { kind: 'nginx_error' }), 1);
  assert.equal(counter(ctx, 'containerLogLines', { kind: 'envoy_app' }), 1);
  assert.equal(counter(ctx, 'containerLogLines', { kind: 'tcp' }), 1);
  assert.equal(counter(ctx, 'containerLogLines', { kind: 'malformed' }), 1);
  assert.equal(counter(ctx, 'containerLogLines', { kind: 'access' }), 5);
  assert.equal(dropsOf(ctx, 'malformed_access_line'), 1);
});

test('filters: namespaces, pods and containers, included and excluded', async () => {
  const dir = tempDir();
  const pods = join(dir, 'pods');
  writePodLog(pods, SIDECAR_POD, criLines([ENVOY.outbound]));
  writePodLog(pods, GATEWAY_POD, criLines([ENVOY.outbound]));
  writePodLog(pods, { ...SIDECAR_POD, namespace: 'payments', pod: 'pay-1' }, criLines([ENVOY.outbound]));
  const pick = async (f: Record<string, unknown>) =>
    (await drain(sourceConfig(dir, f))).rows.map((r) => `${r.namespace}/${r.pod}`).sort();
  assert.deepEqual(await pick({ namespaces: ['book*'] }), [`bookinfo/${SIDECAR_POD.pod}`]);
  assert.deepEqual(await pick({ exclude_namespaces: ['istio-system', 'bookinfo'] }), ['payments/pay-1']);
  assert.deepEqual(await pick({ pods: ['istio-*'] }), [`istio-system/${GATEWAY_POD.pod}`]);
  assert.deepEqual(await pick({ exclude_containers: ['istio-proxy'] }), []);
  assert.deepEqual(
    await pick({ parsers: [{ parser: 'envoy', containers: ['istio-proxy'], namespaces: ['payments'] }] }),
    ['payments/pay-1'],
  );
});

test('Docker json-file behind /var/log/containers links; split records joined; broken lines counted', async () => {
  const dir = tempDir();
  const id = 'b'.repeat(64);
  const docker = join(dir, 'docker', id);
  mkdirSync(docker, { recursive: true });
  const line = ENVOY.outbound;
  const split = [line.slice(0, 100), line.slice(100, 250), `${line.slice(250)}\n`]
    .map((log) => `${JSON.stringify({ log, stream: 'stdout', time: '2026-11-25T07:00:00.1Z' })}\n`)
    .join('');
  writeFileSync(join(docker, `${id}-json.log`), `${split}{"log":"corrupt\n${dockerLines([ENVOY.inbound])}`);
  mkdirSync(join(dir, 'containers'));
  symlinkSync(join(docker, `${id}-json.log`), join(dir, 'containers', `reviews-v1-abc_bookinfo_istio-proxy-${id}.log`));
  const { ctx, rows } = await drain(sourceConfig(dir, { include: ['containers/*.log'], format: 'docker' }));
  assert.deepEqual(
    rows.map((r) => [r.namespace, r.pod, r.pod_uid, r.container, r.role]),
    [
      ['bookinfo', 'reviews-v1-abc', null, 'istio-proxy', 'sidecar_outbound'],
      ['bookinfo', 'reviews-v1-abc', null, 'istio-proxy', 'sidecar_inbound'],
    ],
  );
  assert.equal(dropsOf(ctx, 'invalid_container_line'), 1);
});

test('a link and its target are one file; the uid comes from the target', async () => {
  const dir = tempDir();
  const target = writePodLog(join(dir, 'pods'), SIDECAR_POD, criLines([ENVOY.outbound]));
  mkdirSync(join(dir, 'containers'));
  symlinkSync(
    target,
    join(dir, 'containers', `${SIDECAR_POD.pod}_${SIDECAR_POD.namespace}_istio-proxy-${'c'.repeat(64)}.log`),
  );
  const { rows } = await drain(sourceConfig(dir, { include: ['containers/*.log', 'pods/*/*/*.log'] }));
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.pod_uid, SIDECAR_POD.uid);
  assert.ok(podLogPath(join(dir, 'pods'), SIDECAR_POD));
});

test('records beyond max_line_size are cut and counted; the rest of the file is read', async () => {
  const dir = tempDir();
  const huge = `${ENVOY.outbound} ${'z'.repeat(5000)}`;
  writePodLog(join(dir, 'pods'), SIDECAR_POD, criLines([huge, ENVOY.inbound], 1000));
  const { ctx, rows } = await drain(sourceConfig(dir, { max_line_size: '1KiB' }));
  assert.deepEqual(
    rows.map((r) => r.role),
    ['sidecar_inbound'],
  );
  assert.equal(dropsOf(ctx, 'malformed_access_line'), 1, 'the cut line no longer parses');
  const truncated = (ctx.metrics.tailRecordsTruncated as unknown as { hashMap: Record<string, { value: number }> })
    .hashMap;
  assert.equal(Object.values(truncated)[0]?.value, 1);
});

test('configuration: defaults, relative globs, and a custom format that cannot be read', () => {
  const dir = tempDir();
  const c = sourceConfig(dir, { include: ['logs/*.log'] });
  assert.deepEqual(c.include, [join(dir, 'logs/*.log')]);
  assert.equal(c.parsers.length, 3);
  assert.equal(c.parsers[0]!.role, 'auto');
  assert.equal(c.max_line_size, 64 * 1024);
  assert.throws(
    () => sourceConfig(dir, { parsers: [{ parser: 'ingress-nginx', containers: ['c'], log_format: '{"a": $status' }] }),
    /parsers\.0\.log_format/,
  );
  assert.throws(() => sourceConfig(dir, { poll_interval: 'soon' }), /poll_interval/);
});

test('malformed lines: each counted, a bounded sample logged without query strings', async () => {
  const dir = tempDir();
  const bad = Array.from(
    { length: 40 },
    (_, i) => `${NGINX_MALFORMED.replace('/shop/cart', `/p${i}?token=s3cr3t${i}`)}`,
  );
  writePodLog(join(dir, 'pods'), INGRESS_POD, criLines([...bad, NGINX.upstreaminfo]));
  const logged: Record<string, unknown>[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => logged.push(JSON.parse(line)) });
  const { ctx, rows } = await drain(sourceConfig(dir, {}), new TestSourceContext({ logger }));
  assert.equal(rows.length, 1);
  assert.equal(dropsOf(ctx, 'malformed_access_line'), 40);
  const samples = logged.filter((l) => l.msg === 'malformed access line dropped');
  assert.ok(samples.length >= 1 && samples.length <= 6, `${samples.length} samples logged`);
  assert.match(String(samples[0]!.sample), /\/p0\?…/);
  assert.ok(!JSON.stringify(logged).includes('s3cr3t'));
});

test('record ids: the contract recordId over node, source, file identity and offset', () => {
  const ids = recordIds('node-a', 'container-logs', 65024, 99, 'abcdef0123456789');
  for (const offset of [0, 7, 1234567890123])
    assert.equal(ids(offset), recordId('node-a', 'container-logs', 65024, 99, 'abcdef0123456789', offset));
});

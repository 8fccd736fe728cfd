// Canary secrets placed where clusters keep them — pod env, args, annotations
// off the allow-list, last-applied-configuration, Event messages in
// credential form — never reach the landed Parquet, neither its decoded
// values nor its bytes; what is allowed (labels, allow-listed annotations,
// the operational text of Event messages) does arrive.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { until } from './support/agent.ts';
import { KubeApiServer } from './support/kube-apiserver.ts';
import { eventually, pod, readRows, service, startKubeAgent } from './support/kubernetes.ts';
import { tempDir } from './support/tmp.ts';

const CANARY = 'CANARY7Q3X';

function files(root: string): string[] {
  return readdirSync(root).flatMap((f) => {
    const p = join(root, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.parquet') ? [p] : [];
  });
}

test('canary secrets in env, args, annotations and Event messages never land; allowed metadata does', async (t) => {
  const dir = tempDir();
  const api = await KubeApiServer.start();
  t.after(() => api.close());
  const lastApplied = JSON.stringify({ spec: { containers: [{ env: [{ name: 'TOKEN', value: `${CANARY}-la` }] }] } });
  api.create(
    'pods',
    pod('payments-0', 'node-a', {
      ip: '10.1.0.7',
      spec: {
        containers: [
          {
            name: 'app',
            image: 'payments:3',
            args: [`--db-password=${CANARY}-arg`],
            env: [
              { name: 'DB_PASSWORD', value: `${CANARY}-env` },
              { name: 'FROM_SECRET', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
            ],
            envFrom: [{ configMapRef: { name: `${CANARY}-cm` } }],
          },
        ],
        volumes: [{ name: 'creds', secret: { secretName: `${CANARY}-vol` } }],
      },
    }),
  );
  api.update('pods', 'shop', 'payments-0', (o) => {
    o.metadata!.annotations = {
      'kubectl.kubernetes.io/last-applied-configuration': lastApplied,
      'vault.hashicorp.com/agent-inject-token': `${CANARY}-ann`,
      'team.example.com/owner': 'payments-team',
    };
  });
  api.create('services', {
    ...service('payments', '10.96.5.5'),
    metadata: {
      name: 'payments',
      namespace: 'shop',
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': lastApplied, note: `${CANARY}-svc` },
    },
  });
  api.create('events.k8s.io', {
    metadata: { name: 'payments-0.1', namespace: 'shop' },
    regarding: { kind: 'Pod', name: 'payments-0', namespace: 'shop' },
    reason: 'Failed',
    type: 'Warning',
    note: `Failed to pull image "registry.example/payments:3": pulling from https://robot:${CANARY}-url@registry.example failed; password=${CANARY}-kv; Authorization: Bearer ${CANARY}-bearer`,
    eventTime: '2026-11-01T10:00:00.000000Z',
  });

  const { agent, landing } = await startKubeAgent(dir, api, {
    source: {
      // Even an allow-list that matches last-applied-configuration does not keep it.
      annotations: { allow: ['team.example.com/*', 'kubectl.kubernetes.io/*'] },
    },
    config: { encode: { compression: 'none' } },
  });
  t.after(() => agent.stop());
  await until(() => agent.metrics.drops().length === 0 && agent.status().state === 'running', 'running');
  await eventually(async () => (await readRows(landing, 'k8s_events')).length > 0, 'the event landed', 30_000);
  await agent.stop();

  const objects = await readRows(landing, 'k8s_objects');
  const events = await readRows(landing, 'k8s_events');
  const decoded = JSON.stringify({ objects, events });
  assert.ok(!decoded.includes(CANARY), 'a canary reached a landed value');
  const bytes = files(landing).map((f) => readFileSync(f));
  assert.ok(bytes.length >= 2);
  for (const b of bytes) assert.equal(b.indexOf(CANARY), -1, 'a canary reached landed bytes');
  assert.ok(!decoded.includes('last-applied-configuration'));

  // What is allowed arrives (so the checks above look at real data).
  const payments = objects.filter((r) => r.name === 'payments-0');
  assert.ok(payments.length >= 1);
  assert.ok(bytes.some((b) => b.includes('payments-team')));
  assert.ok(JSON.stringify(payments.at(-1)!.annotations).includes('team.example.com/owner'));
  assert.ok(
    (events[0]!.message as string).startsWith(
      'Failed to pull image "registry.example/payments:3": pulling from https://',
    ),
  );
  assert.match(events[0]!.message as string, /\[redacted\]@registry\.example failed; password=\[redacted\]/);
  assert.ok(objects.some((r) => r.name === 'payments' && r.kind === 'Service'));
  assert.ok(!api.requests.some((r) => /configmaps|secrets/.test(r.path)), 'no ConfigMap or Secret is ever read');
});

// The flow sources' configuration as an operator writes it: defaults, units,
// Hubble filters in Hubble's own key names, and errors that name the key.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, parseConfig } from '../../config/load.ts';

const withSources = (sources: string) => `
node_name: node-a
spool: { dir: /var/lib/hoptrace }
store: { type: local, dir: /tmp/landing }
sources:
${sources}
`;

function problemsOf(yaml: string): readonly string[] {
  try {
    parseConfig(yaml, '/etc/hoptrace/config.yaml', {});
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

test('defaults: the node-local Hubble socket, durations in milliseconds, the standard file locations', () => {
  const c = parseConfig(
    withSources(`
  - type: hubble
    whitelist: [{ source_pod: ["shop/"], verdict: [DROPPED], destination_workload: [{ kind: Deployment, name: cart }] }]
  - type: hubble-export
  - type: calico`),
    '/etc/hoptrace/config.yaml',
    {},
  );
  const [grpc, exportFile, calico] = c.sources;
  assert.equal(grpc?.type, 'hubble');
  if (grpc?.type !== 'hubble' || exportFile?.type !== 'hubble-export' || calico?.type !== 'calico') throw new Error();
  assert.deepEqual(
    [grpc.name, grpc.address, grpc.resume_overlap, grpc.reconnect_backoff_max, grpc.batch_delay, grpc.keepalive_time],
    ['hubble-grpc', 'unix:///var/run/cilium/hubble.sock', 2000, 30_000, 250, 0],
  );
  assert.deepEqual(grpc.whitelist, [
    { source_pod: ['shop/'], verdict: ['DROPPED'], destination_workload: [{ kind: 'Deployment', name: 'cart' }] },
  ]);
  assert.deepEqual(exportFile.include, ['/var/run/cilium/hubble/events.log', '/var/run/cilium/hubble/events-*.log']);
  assert.equal(exportFile.max_line_size, 1024 * 1024);
  assert.equal(calico.include[0], '/var/log/calico/flowlogs/flows.log');
  assert.equal(calico.start_at, 'end');
});

test('mistakes are reported with the key they concern', () => {
  const problems = problemsOf(
    withSources(`
  - type: hubble
    keepalive_time: 1m
    whitelist: [{ source_pods: ["shop/"] }]
    blacklist: [{ verdict: [MAYBE] }]
    tls: { ca_file: /etc/ca.pem, cert_file: /etc/client.pem }
    reconnect_backoff_initial: 10s
    reconnect_backoff_max: 1s
  - type: calico
    include: []`),
  );
  const text = problems.join('\n');
  assert.match(text, /sources\.0\.whitelist\.0: unknown key\(s\) 'source_pods'/);
  assert.match(text, /sources\.0\.blacklist\.0\.verdict\.0/);
  // Refinements run once the object itself is valid; the shape errors come first.
  assert.match(text, /sources\.1\.include/);
  const refined = problemsOf(
    withSources(`
  - type: hubble
    keepalive_time: 1m
    tls: { ca_file: /etc/ca.pem, cert_file: /etc/client.pem }
    reconnect_backoff_initial: 10s
    reconnect_backoff_max: 1s`),
  ).join('\n');
  assert.match(refined, /sources\.0\.keepalive_time: must be 0 or at least 5m/);
  assert.match(refined, /sources\.0\.tls: cert_file and key_file go together/);
  assert.match(refined, /sources\.0\.reconnect_backoff_max: must not be shorter/);
});

// The Kubernetes source's configuration: defaults an operator can rely on,
// and Lease timings that could let two leaders overlap are refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, parseConfig } from '../../config/load.ts';

const base = `
node_name: node-a
spool: { dir: /var/lib/hoptrace }
store: { type: local, dir: /tmp/landing }
`;

function problems(source: string): readonly string[] {
  try {
    parseConfig(`${base}sources:\n  - ${source}\n`, '/etc/hoptrace.yaml', {});
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

test('defaults: all kinds, hourly snapshots, client-go lease timings, no annotations kept, messages redacted', () => {
  const c = parseConfig(`${base}sources:\n  - type: kubernetes\n`, '/etc/hoptrace.yaml', {});
  const s = c.sources[0]!;
  assert.equal(s.type, 'kubernetes');
  if (s.type !== 'kubernetes') return;
  assert.deepEqual(s.kinds, ['pods', 'services', 'endpointslices', 'nodes', 'events']);
  assert.equal(s.snapshot_interval, 3_600_000);
  assert.deepEqual([s.lease.duration, s.lease.renew_deadline, s.lease.retry_period], [15_000, 10_000, 2_000]);
  assert.deepEqual(s.annotations.allow, []);
  assert.equal(s.event_message, 'redact');
  assert.equal(s.name, 'k8s-watch');
  assert.equal(s.events_api, 'events.k8s.io/v1');
});

test('lease timings that could overlap two leaders, and unknown kinds, are refused with the key named', () => {
  assert.deepEqual(problems('{ type: kubernetes, lease: { duration: 10s, renew_deadline: 10s } }'), [
    'sources.0.lease.renew_deadline: must be shorter than lease.duration',
  ]);
  assert.deepEqual(problems('{ type: kubernetes, lease: { retry_period: 12s } }'), [
    'sources.0.lease.retry_period: must be shorter than lease.renew_deadline',
  ]);
  assert.match(problems('{ type: kubernetes, kinds: [secrets] }')[0] ?? '', /^sources\.0\.kinds\.0: /);
  assert.match(problems('{ type: kubernetes, labels: { allow: ["bad key!"] } }')[0] ?? '', /labels\.allow\.0/);
});

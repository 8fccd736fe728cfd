// The simulator is a function of its configuration: the same seed writes the
// same bytes, another seed writes other bytes, and switching a fault that
// only removes or delays records leaves the traffic itself unchanged.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFaults } from '../../sim/src/config.ts';
import { treeDigest } from '../../sim/src/simulate.ts';
import { run, truth } from './helpers.ts';

test('the same seed writes the same bytes, every file', () => {
  const opts = { seed: 7, routing: 'ebpf' as const, faults: parseFaults('all') };
  const a = run(opts);
  const b = run(opts);
  const da = treeDigest(a.dir);
  const db = treeDigest(b.dir);
  assert.ok(Object.keys(da).length > 20, 'a run writes files');
  assert.deepEqual(Object.keys(db), Object.keys(da));
  for (const [path, digest] of Object.entries(da)) assert.equal(db[path], digest, `${path} differs between runs`);
  assert.deepEqual(a.manifest.files, b.manifest.files);
});

test('another seed writes another cluster and other traffic', () => {
  const a = run({ seed: 1 });
  const b = run({ seed: 2 });
  const ta = truth(a);
  const tb = truth(b);
  assert.notDeepEqual(
    ta.map((r) => r.request_id),
    tb.map((r) => r.request_id),
  );
  assert.notDeepEqual(a.manifest.files['truth.jsonl'], b.manifest.files['truth.jsonl']);
});

test('faults that lose or delay records change the evidence, not the traffic', () => {
  const base = run({ seed: 11 });
  const faulty = run({ seed: 11, faults: { lost: 0.05, late: 0.3, 'hubble-lost': 0.05, skew: 0.5 } });
  const strip = (rs: ReturnType<typeof truth>) => rs.map(({ evidence: _e, faults: _f, ...rest }) => rest);
  assert.deepEqual(strip(truth(faulty)), strip(truth(base)));
  const hit = truth(faulty).filter((r) => r.faults.some((f) => /^(lost|late|hubble-lost):/.test(f)));
  assert.ok(hit.length > 0, 'the faults touched some requests');
  assert.notEqual(faulty.manifest.files['truth.jsonl'], base.manifest.files['truth.jsonl']);
});

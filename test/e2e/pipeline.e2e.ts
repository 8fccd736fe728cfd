// End to end: a simulated cluster whose request paths are known runs through
// one real agent process per node (container logs, the Hubble export file,
// the Kubernetes API test server, OTLP over HTTP; one node lands in the
// S3-compatible test server, the others locally, and one agent is SIGKILLed
// and restarted mid-run), then through the lakehouse's local runner; Gold is
// scored against the truth, hop by hop, and every injected fault must be
// reported. Takes about five minutes (real-time traffic, then Spark).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeConfig } from '../../sim/src/config.ts';
import { runCluster } from '../../sim/src/run/cluster.ts';
import { finalAsOf, formatScorecard, runLakehouse, score } from '../../sim/src/run/score.ts';
import type { TruthRequest } from '../../sim/src/truth.ts';
import { tempDir } from '../support/tmp.ts';

/** Share of the requests whose evidence was all emitted that must come out `complete` (and right); runs reach ~0.9. */
const MIN_RECALL = 0.75;

test('simulated cluster → real agents → lakehouse: Gold scored against the truth', {
  timeout: 20 * 60_000,
}, async (t) => {
  const dir = tempDir('hoptrace-e2e-');
  const cfg = makeConfig({
    seed: 3,
    nodes: 3,
    durationS: 30,
    rate: 8,
    faults: {
      skew: 0.34,
      'dup-ids': 0.05,
      restart: 0.34,
      churn: 1,
      lost: 0.02,
      'hubble-lost': 0.02,
      drift: 0.34,
    },
  });
  const run = await runCluster({ dir, cfg, leadS: 12, s3: true, progress: (m) => t.diagnostic(m) });
  assert.deepEqual(run.failedAgents, [], 'every agent exits 0 after SIGTERM');
  assert.equal(run.restarts, run.manifest.faults.agent_restarts.length);
  assert.ok(run.s3Nodes.length > 0, 'a node landed in the S3-compatible server');
  assert.equal(run.otlp.rejectedSpans, 0);

  const asOf = finalAsOf(run.manifest.end);
  const out = runLakehouse(run.landing, join(dir, 'warehouse'), asOf, join(dir, 'lakehouse'));
  const truth = readFileSync(join(run.simDir, 'truth.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as TruthRequest);
  const card = score(truth, run.manifest, out, { minRecall: MIN_RECALL });
  for (const line of formatScorecard(card, out).split('\n')) t.diagnostic(line);

  assert.ok(card.complete > 0, 'some paths are complete');
  assert.equal(card.precision, 1, `complete paths that are wrong: ${JSON.stringify(card.wrong.slice(0, 3))}`);
  for (const c of card.checks) assert.ok(c.ok, `${c.name}: ${c.detail}`);
});

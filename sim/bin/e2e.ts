#!/usr/bin/env node
// End to end on a simulated cluster: simulate → one real agent per node
// (local landing and an S3-compatible server) → the lakehouse's local runner
// → a scorecard against the ground truth. Exits 1 when a check fails.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { makeConfig, parseDurationS, parseFaults, type SimConfig } from '../src/config.ts';
import { runCluster } from '../src/run/cluster.ts';
import { finalAsOf, formatScorecard, runLakehouse, score } from '../src/run/score.ts';
import type { TruthRequest } from '../src/truth.ts';

const USAGE = `usage: node sim/bin/e2e.ts --out DIR [--seed N] [--nodes N] [--duration D] [--rate R]
       [--cni cilium|calico] [--routing kube-proxy|ebpf] [--faults LIST] [--lead S] [--no-s3] [--min-recall X]

Runs the simulated cluster through real agents and the local lakehouse and prints a scorecard.
The simulated time starts --lead seconds (default 15) after the call and runs in real time; the
lakehouse run takes a few minutes. Faults: see node sim/bin/simulate.ts --help (late is not delivered
by this runner).
`;

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      seed: { type: 'string' },
      nodes: { type: 'string' },
      duration: { type: 'string' },
      rate: { type: 'string' },
      cni: { type: 'string' },
      routing: { type: 'string' },
      faults: { type: 'string' },
      lead: { type: 'string' },
      'no-s3': { type: 'boolean' },
      'min-recall': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || !values.out) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  const o: { -readonly [K in keyof SimConfig]?: SimConfig[K] } = { nodes: 3, durationS: 45, rate: 8 };
  if (values.seed) o.seed = Number(values.seed);
  if (values.nodes) o.nodes = Number(values.nodes);
  if (values.duration) o.durationS = parseDurationS(values.duration);
  if (values.rate) o.rate = Number(values.rate);
  if (values.cni) o.cni = values.cni as SimConfig['cni'];
  if (values.routing) o.routing = values.routing as SimConfig['routing'];
  if (values.faults) o.faults = parseFaults(values.faults);
  const cfg = makeConfig(o);
  const dir = resolve(values.out);
  const t0 = Date.now();
  const say = (m: string) => process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${m}\n`);
  const run = await runCluster({
    dir,
    cfg,
    leadS: values.lead ? Number(values.lead) : 15,
    s3: !values['no-s3'],
    progress: say,
  });
  if (run.failedAgents.length) say(`agents that did not exit cleanly: ${run.failedAgents.join(', ')}`);
  say(`OTLP: ${run.otlp.spans} spans in ${run.otlp.requests} requests sent (${run.otlp.rejectedSpans} rejected)`);
  const asOf = finalAsOf(run.manifest.end);
  say(`running the lakehouse locally (as of ${asOf}); this takes a few minutes`);
  const out = runLakehouse(run.landing, join(dir, 'warehouse'), asOf, join(dir, 'lakehouse'));
  say('scoring');
  const truth = readFileSync(join(run.simDir, 'truth.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as TruthRequest);
  const card = score(truth, run.manifest, out, {
    minRecall: values['min-recall'] ? Number(values['min-recall']) : 0.25,
  });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'scorecard.json'), `${JSON.stringify(card, null, 2)}\n`);
  process.stdout.write(`${formatScorecard(card, out)}\n`);
  say(`done; scorecard.json, the landing directory and the warehouse are in ${dir}`);
  return card.ok ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));

// make demo: the whole pipeline on a simulated cluster, on this machine.
// The simulator drives a few minutes of traffic through a small cluster in
// real time; one real agent process per node tails its node's container logs
// and Hubble export file, watches a Kubernetes API test server and receives
// its pods' spans over OTLP, landing Parquet in a local directory laid out
// like the S3 bucket; meanwhile the lakehouse runs locally (PySpark + Delta)
// in streaming passes over what has landed, and after the traffic it
// finalizes the windows. Then it prints the scorecard against the simulator's
// ground truth, freshness, table sizes and a few request paths, and writes a
// one-file HTML report.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { makeConfig, parseDurationS, parseFaults } from '../sim/src/config.ts';
import { runCluster } from '../sim/src/run/cluster.ts';
import { type FollowOutput, followLakehouse } from '../sim/src/run/follow.ts';
import { measureFreshness, truthIndex } from '../sim/src/run/freshness.ts';
import {
  type ExamplePath,
  type FreshnessLine,
  fmtBytes,
  fmtMs,
  formatPathText,
  pickExamples,
  renderReport,
} from '../sim/src/run/report.ts';
import { formatScorecard, type Row, score } from '../sim/src/run/score.ts';
import type { TruthRequest } from '../sim/src/truth.ts';

const REPO = resolve(import.meta.dirname, '..');
const WINDOW_MS = 5 * 60_000;
const USAGE = `usage: node scripts/demo.ts [--out DIR (replaced)] [--seed N] [--nodes N] [--duration D] [--rate R] [--faults LIST]

The whole pipeline on a simulated cluster (defaults: 3 nodes, 150s of traffic at 6 requests/s,
faults skew,dup-ids=0.05,lost=0.03,churn=0.5,drift; output in out/demo). Takes several minutes.
`;

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: join(REPO, 'out', 'demo') },
    seed: { type: 'string', default: '7' },
    nodes: { type: 'string', default: '3' },
    duration: { type: 'string', default: '150s' },
    rate: { type: 'string', default: '6' },
    faults: { type: 'string', default: 'skew,dup-ids=0.05,lost=0.03,churn=0.5,drift' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

const out = resolve(values.out);
const cfg = makeConfig({
  seed: Number(values.seed),
  nodes: Number(values.nodes),
  durationS: parseDurationS(values.duration),
  rate: Number(values.rate),
  faults: parseFaults(values.faults),
});
const t0 = Date.now();
const say = (m: string) => process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${m}\n`);

function landedSoFar(landing: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.parquet') && !e.name.startsWith('.')) {
        files++;
        bytes += statSync(p).size;
      }
    }
  };
  if (existsSync(landing)) walk(landing);
  return { files, bytes };
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const runDir = join(out, 'run');
const landing = join(runDir, 'landing');
say(
  `hoptrace demo: ${cfg.nodes} nodes, ${cfg.durationS}s of traffic at ${cfg.rate} requests/s, faults ${values.faults} ` +
    `(${cpus().length} CPUs); output in ${relative(process.cwd(), out) || '.'}`,
);
say('phase 1/3: simulate the cluster, start one agent per node and the local lakehouse (Spark)');

const running = runCluster({
  dir: runDir,
  cfg,
  leadS: 20,
  s3: false,
  live: true,
  progress: (m) => say(`cluster: ${m}`),
});
// runCluster has replaced its directory before its first await: the landing path is stable now.
let lastLakeEvent = Date.now();
const lake = followLakehouse(landing, join(out, 'warehouse'), join(out, 'lakehouse'), (e) => {
  lastLakeEvent = Date.now();
  if (e.event === 'ready') say('lakehouse: Spark session ready; streaming passes start once objects land');
  else if (e.event === 'pass')
    say(
      `lakehouse: streaming pass ${e.pass} took ${e.seconds}s, ${e.new_paths} new provisional paths (${e.paths} in all)`,
    );
  else if (e.event === 'final') say(`lakehouse: final pass, finalizer and data-quality checks took ${e.seconds}s`);
});
const ticker = setInterval(() => {
  const l = landedSoFar(landing);
  say(`landed so far: ${l.files} Parquet objects, ${fmtBytes(l.bytes)}`);
}, 20_000);

let lakeOut: FollowOutput;
let run: Awaited<typeof running>;
try {
  run = await running;
  clearInterval(ticker);
  const l = landedSoFar(landing);
  say(
    `phase 2/3: traffic done — ${run.manifest.counts.requests} requests; agents landed ${l.files} objects (${fmtBytes(l.bytes)}); ` +
      `OTLP ${run.otlp.spans} spans${run.failedAgents.length ? `; agents that did not exit cleanly: ${run.failedAgents.join(', ')}` : ''}`,
  );
  // A window closes max lateness + grace (15 + 2 minutes) after its end, and the stopped agents
  // hold none open: the demo finalizes as of a minute past that for the traffic's last window
  // instead of waiting for it.
  const lastWindowEnd = Math.ceil(Date.parse(run.manifest.end) / WINDOW_MS) * WINDOW_MS;
  const asOf = new Date(lastWindowEnd + 18 * 60_000).toISOString();
  say(`phase 3/3: last streaming pass, then finalize as of ${asOf} (when the last window has closed) — a few minutes`);
  const waiting = setInterval(
    () => say(`lakehouse: still working (${Math.round((Date.now() - lastLakeEvent) / 1000)}s since its last report)`),
    20_000,
  );
  try {
    lakeOut = await lake.finish(asOf);
  } finally {
    clearInterval(waiting);
  }
} catch (e) {
  clearInterval(ticker);
  lake.kill();
  throw e;
}

const truth = readFileSync(join(run.simDir, 'truth.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as TruthRequest);
const card = score(truth, run.manifest, lakeOut, { minRecall: 0.25 });
writeFileSync(join(out, 'scorecard.json'), `${JSON.stringify(card, null, 2)}\n`);

const fresh = measureFreshness(truth, landing, {
  firstSeen: lakeOut.firstSeen,
  paths: lakeOut.paths,
  windows: lakeOut.windows,
});
const freshness: FreshnessLine[] = [
  {
    label: 'landed (Parquet object)',
    p: fresh.landed,
    how: 'the object holding the request’s ingress record: its file time in the landing directory (the store renames a finished file into place) − request end; the agents roll files 2 s after their first row here (shipped default 30 s)',
  },
  {
    label: 'Gold provisional',
    p: fresh.provisional,
    how: 'computed_at of the first streaming pass that wrote the path − request end; local passes start at most every 20 s, on the same CPUs as the agents',
  },
  {
    label: 'Gold final',
    p: fresh.final,
    how: 'first_finalized_at of the path’s 5-minute window − request end; the demo finalizes right after the traffic, as of the time its last window closes, where a deployment waits for that time (window end + 15 minutes of allowed lateness + 2 of grace)',
  },
];

// Examples: from the final tier, else from the provisional one.
const source = lakeOut.paths.length ? lakeOut.paths : lakeOut.provisional;
const issuesOf = new Map<string, Row[]>();
for (const i of lakeOut.issues) issuesOf.set(String(i.path_id), [...(issuesOf.get(String(i.path_id)) ?? []), i]);
const find = truthIndex(truth);
const toExample = (p: Row): ExamplePath => ({
  path: p,
  issues: issuesOf.get(String(p.path_id)) ?? [],
  truth: find(p.request_id, p.ingress_pod, typeof p.end_time === 'string' ? Date.parse(p.end_time) : Number.NaN),
});
const examples = pickExamples(source, { complete: 3, partial: 2, ambiguous: 2, failed: 2 }).map(toExample);
const shown = pickExamples(source, { complete: 1, partial: 1, ambiguous: 1, failed: 1 }).slice(0, 3).map(toExample);

const reportPath = join(out, 'report.html');
writeFileSync(
  reportPath,
  renderReport({
    title: 'hoptrace demo — request paths of a simulated cluster',
    generatedAt: new Date().toISOString(),
    run: {
      cluster: `${cfg.nodes} nodes, ${run.manifest.counts.pods} pods, ${cfg.cni}, ${cfg.routing}`,
      traffic: `${cfg.durationS}s at ${cfg.rate} requests/s from ${run.manifest.start} (${run.manifest.counts.requests} requests)`,
      faults: values.faults,
      seed: String(cfg.seed),
      paths: `${lakeOut.paths.length} final, ${lakeOut.provisional.length} provisional`,
      'examples from': lakeOut.paths.length ? 'gold.request_paths (final)' : 'gold.request_paths_provisional',
    },
    scorecard: card,
    completeness: card.completeness,
    issuesByReason: card.issuesByReason,
    freshness,
    tableSizes: lakeOut.tableSizes,
    examples,
  }),
);

const p = (x: number) => fmtMs(x).padStart(9);
const lines: string[] = [
  '',
  formatScorecard(card, lakeOut),
  '',
  'freshness (from the request’s end, measured on this run: simulated time runs in real time)',
  `  ${'to'.padEnd(26)} ${'n'.padStart(6)} ${'p50'.padStart(9)} ${'p95'.padStart(9)}`,
  ...freshness.map((f) => `  ${f.label.padEnd(26)} ${String(f.p.n).padStart(6)} ${p(f.p.p50)} ${p(f.p.p95)}`),
  ...freshness.map((f) => `    ${f.label}: ${f.how}`),
  '',
  'table sizes (current Delta version)',
  `  ${'table'.padEnd(36)} ${'rows'.padStart(9)} ${'files'.padStart(6)} ${'bytes'.padStart(10)}`,
  ...Object.entries(lakeOut.tableSizes)
    .filter(([k]) => /^(bronze|silver|gold)\./.test(k))
    .map(
      ([k, v]) =>
        `  ${k.padEnd(36)} ${String(v.rows).padStart(9)} ${String(v.files).padStart(6)} ${fmtBytes(v.bytes).padStart(10)}`,
    ),
  '',
  `example request paths (${lakeOut.paths.length ? 'final' : 'provisional'}; hops in order: seq, kind, who, evidence)`,
  ...(shown.length ? shown.map(formatPathText) : ['  the lakehouse produced no request path']),
  '',
  `report: ${reportPath}`,
  `  (open it in a browser: ${examples.length} request paths drawn hop by hop, the issue breakdown and the scorecard)`,
  `landing directory (laid out like the S3 bucket): ${landing}`,
  `local Delta tables: ${join(out, 'warehouse')}`,
];
process.stdout.write(`${lines.join('\n')}\n`);
say(`done in ${Math.round((Date.now() - t0) / 1000)}s`);

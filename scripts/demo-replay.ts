// make demo-replay: runs the real agent (a child process, drain mode) over the
// example input in examples/demo (one request path seen by every source), then
// reads back what landed in the local store — tables, files, rows and bytes —
// from the Parquet files themselves. Seconds, no lakehouse (`make demo` runs
// the whole pipeline on a simulated cluster).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as pw from 'parquet-wasm';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.env.HOPTRACE_DEMO_OUT ?? join(repo, 'out', 'demo-replay'));
rmSync(out, { recursive: true, force: true });

console.log(`hoptrace demo: replaying examples/demo/records.ndjson through the agent (drain mode)…`);
const summaryText = execFileSync(
  process.execPath,
  [
    join(repo, 'agent/bin/hoptrace.ts'),
    'drain',
    '--config',
    join(repo, 'examples/demo/hoptrace.yaml'),
    '--summary-json',
  ],
  { env: { ...process.env, HOPTRACE_DEMO_OUT: out }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
);
const summary = JSON.parse(summaryText.trim().split('\n').pop()!) as { node: string; epoch: string; store: string };

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.name.endsWith('.parquet')) yield path;
  }
}

const landing = join(out, 'landing');
const byTable = new Map<string, { files: number; rows: number; bytes: number }>();
const files: string[] = [];
for (const path of walk(landing)) {
  const key = relative(landing, path);
  const table = key.split('/')[2]!;
  const t = byTable.get(table) ?? { files: 0, rows: 0, bytes: 0 };
  t.files++;
  t.rows += pw
    .readParquet(readFileSync(path))
    .recordBatches()
    .reduce((n, b) => n + b.numRows, 0);
  t.bytes += statSync(path).size;
  byTable.set(table, t);
  files.push(key);
}

console.log(`\nlanded in ${landing} (node ${summary.node}, spool epoch ${summary.epoch}):\n`);
console.log(`  ${'table'.padEnd(18)} ${'files'.padStart(5)} ${'rows'.padStart(6)} ${'bytes'.padStart(8)}`);
let total = { files: 0, rows: 0, bytes: 0 };
for (const [table, t] of [...byTable].sort(([a], [b]) => a.localeCompare(b))) {
  console.log(
    `  ${table.padEnd(18)} ${String(t.files).padStart(5)} ${String(t.rows).padStart(6)} ${String(t.bytes).padStart(8)}`,
  );
  total = { files: total.files + t.files, rows: total.rows + t.rows, bytes: total.bytes + t.bytes };
}
console.log(
  `  ${'total'.padEnd(18)} ${String(total.files).padStart(5)} ${String(total.rows).padStart(6)} ${String(total.bytes).padStart(8)}`,
);
console.log(
  `\nobject keys:\n${files
    .sort()
    .map((f) => `  ${f}`)
    .join('\n')}`,
);

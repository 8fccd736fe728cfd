// npm run bench — throughput and memory of batch → encode → spool, per table.
// Each table runs in its own child process: rows are generated first (not
// timed), then pushed through the real pipeline (real Parquet worker, real
// fsynced spool). Reports records/s, CPU per record (all threads), Parquet
// bytes per record and per raw NDJSON byte, and peak RSS with its increase
// over the pre-run baseline (VmHWM reset via /proc/self/clear_refs).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TableBatch } from '../agent/src/batch/table-batch.ts';
import { TABLES, type TableName } from '../agent/src/contract/generated.ts';
import { defaultEncodeWorkers, ParquetEncoder } from '../agent/src/encode/parquet-encoder.ts';
import { silentLogger } from '../agent/src/ops/logger.ts';
import { AGENT_VERSION, AgentMetrics } from '../agent/src/ops/metrics.ts';
import { Pipeline } from '../agent/src/pipeline/pipeline.ts';
import type { TableRecord } from '../agent/src/pipeline/source.ts';
import { Spool } from '../agent/src/spool/spool.ts';
import { makeRow, prng } from './rows.ts';

const ROWS: Record<TableName, number> = {
  flows: 400_000,
  http_requests: 300_000,
  spans: 300_000,
  k8s_objects: 100_000,
  k8s_events: 100_000,
  agent_heartbeats: 20_000,
};
const EMIT = 1000;

interface Result {
  table: string;
  rows: number;
  seconds: number;
  records_per_s: number;
  cpu_us_per_record: number;
  encode_us_per_record: number;
  parquet_bytes_per_record: number;
  ndjson_bytes_per_record: number;
  parquet_per_raw_byte: number;
  files: number;
  peak_rss_mib: number;
  rss_increase_mib: number;
}

function vmHwmMiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function runOne(table: TableName, rows: number): Promise<Result> {
  const r = prng(42);
  const records: TableRecord[] = [];
  let rawBytes = 0;
  for (let i = 0; i < rows; i++) {
    const row = makeRow(table, i, r);
    rawBytes += JSON.stringify(row).length + 1;
    records.push({ table, row } as TableRecord);
  }
  const dir = mkdtempSync(join(tmpdir(), 'hoptrace-bench-'));
  const spool = await Spool.open(dir, 8 * 1024 ** 3);
  const encoder = new ParquetEncoder({
    compression: 'zstd',
    rowGroupRows: 100_000,
    createdBy: `hoptrace version ${AGENT_VERSION}`,
  });
  const metrics = new AgentMetrics({ defaultMetrics: false });
  const pipeline = new Pipeline(
    {
      batch: { maxRows: 100_000, maxBytes: 64 * 1024 ** 2, maxAgeMs: 30_000, maxOpen: 64 },
      bufferMaxBytes: 256 * 1024 ** 2,
    },
    spool,
    encoder,
    metrics,
    silentLogger,
  );
  // Start and warm every encoder worker (thread start, module loading) outside the clock, with an empty file each.
  await Promise.all(
    Array.from({ length: encoder.workers }, () =>
      encoder.encode(new TableBatch(TABLES.flows, 0, 0, () => {}).toColumns()),
    ),
  );
  pipeline.accept('bench', records.slice(0, 100));
  await pipeline.flushAll();
  for (const f of spool.pending()) await spool.remove(f);

  (globalThis as { gc?: () => void }).gc?.();
  writeFileSync('/proc/self/clear_refs', '5');
  const rssBefore = process.memoryUsage().rss / 1024 ** 2;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < rows; i += EMIT) {
    await pipeline.waitForCapacity();
    pipeline.accept('bench', records.slice(i, i + EMIT));
  }
  await pipeline.flushAll();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const peak = vmHwmMiB();
  // A generator that drifted from the contract would show up as drops, not as speed.
  if (metrics.drops().length) throw new Error(`rows were dropped: ${JSON.stringify(metrics.drops())}`);
  const encodeSeconds = (await metrics.encodeSeconds.get()).values
    .filter((v) => v.metricName === 'hoptrace_encode_duration_seconds_sum')
    .reduce((n, v) => n + v.value, 0);
  const files = spool.pending();
  const parquetBytes = files.reduce((n, f) => n + f.bytes, 0);
  await encoder.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    table,
    rows,
    seconds: round(seconds, 2),
    records_per_s: Math.round(rows / seconds),
    cpu_us_per_record: round((cpu.user + cpu.system) / rows, 2),
    encode_us_per_record: round((encodeSeconds * 1e6) / rows, 2),
    parquet_bytes_per_record: round(parquetBytes / rows, 1),
    ndjson_bytes_per_record: round(rawBytes / rows, 1),
    parquet_per_raw_byte: round(parquetBytes / rawBytes, 3),
    files: files.length,
    peak_rss_mib: Math.round(peak),
    rss_increase_mib: Math.round(peak - rssBefore),
  };
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

const args = process.argv.slice(2);
if (args[0] === '--one') {
  const table = args[1] as TableName;
  const result = await runOne(table, Number(args[2] ?? ROWS[table]));
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  const scale = Number(process.env.HOPTRACE_BENCH_SCALE ?? '1');
  const self = fileURLToPath(import.meta.url);
  const results: Result[] = [];
  console.log(
    `hoptrace ${AGENT_VERSION} pipeline benchmark — ${cpus().length} × ${cpus()[0]?.model}, ${Math.round(totalmem() / 1024 ** 3)} GiB, node ${process.version}`,
  );
  console.log(
    `batch → encode (Parquet ZSTD, ${defaultEncodeWorkers()} encoder worker(s)) → spool (fsync), 100k-row files, emissions of 1000 rows\n`,
  );
  console.log(
    'table              rows    rec/s  cpu µs/rec  encode µs/rec  parquet B/rec  ndjson B/rec  ratio  files  peak RSS MiB (Δ)',
  );
  for (const table of Object.keys(ROWS) as TableName[]) {
    const rows = Math.max(1000, Math.round(ROWS[table] * scale));
    const out = execFileSync(process.execPath, ['--expose-gc', self, '--one', table, String(rows)], {
      encoding: 'utf8',
    });
    const r = JSON.parse(out.trim().split('\n').pop()!) as Result;
    results.push(r);
    console.log(
      `${r.table.padEnd(17)} ${String(r.rows).padStart(6)} ${String(r.records_per_s).padStart(8)} ${String(r.cpu_us_per_record).padStart(11)} ${String(r.encode_us_per_record).padStart(14)} ${String(r.parquet_bytes_per_record).padStart(14)} ${String(r.ndjson_bytes_per_record).padStart(13)} ${String(r.parquet_per_raw_byte).padStart(6)} ${String(r.files).padStart(6)} ${String(r.peak_rss_mib).padStart(8)} (${r.rss_increase_mib})`,
    );
  }
  if (process.env.HOPTRACE_BENCH_JSON)
    writeFileSync(process.env.HOPTRACE_BENCH_JSON, `${JSON.stringify(results, null, 2)}\n`);
}

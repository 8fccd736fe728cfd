// make bench — the container-logs source end to end: CRI files of ingress-nginx
// and Envoy/Istio access lines, tailed → decoded → parsed → stripped → batched
// → encoded (Parquet ZSTD, encoder worker pool) → spooled (fsync), with the real
// source, pipeline and spool. Each workload runs in its own process; files are
// written first (not timed). Three stages show where the time goes: `read`
// (tail and CRI framing only), `parse` (plus parsing and row mapping, rows
// discarded) and `e2e` (the whole path). Reports lines/s on the wall clock,
// lines per CPU-second over all threads (the per-core figure), MB/s of log
// file read, CPU per line (all threads, and the main thread's share), and
// peak RSS (VmHWM, reset before the timed part) with its increase over the
// baseline.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TableBatch } from '../agent/src/batch/table-batch.ts';
import { parseConfig } from '../agent/src/config/load.ts';
import type { SourceConfig } from '../agent/src/config/schema.ts';
import { TABLES } from '../agent/src/contract/generated.ts';
import { defaultEncodeWorkers, ParquetEncoder } from '../agent/src/encode/parquet-encoder.ts';
import { silentLogger } from '../agent/src/ops/logger.ts';
import { AGENT_VERSION, AgentMetrics } from '../agent/src/ops/metrics.ts';
import { Pipeline } from '../agent/src/pipeline/pipeline.ts';
import type { SourceContext, TableRecord } from '../agent/src/pipeline/source.ts';
import { QueryHasher } from '../agent/src/privacy/url.ts';
import { ContainerLogsSource } from '../agent/src/sources/container-logs/source.ts';
import {
  criLines,
  ENVOY,
  INGRESS_POD,
  NGINX,
  type PodFile,
  SIDECAR_POD,
  writePodLog,
} from '../agent/src/sources/container-logs/testdata/fixtures.ts';
import { Tailer } from '../agent/src/sources/tail/tailer.ts';
import { Spool } from '../agent/src/spool/spool.ts';

type Workload = 'nginx' | 'envoy';
type Stage = 'read' | 'parse' | 'e2e';
const LINES = 400_000;
const FILES = 4;

interface Result {
  workload: Workload;
  stage: Stage;
  lines: number;
  file_mb: number;
  seconds: number;
  lines_per_s: number;
  lines_per_cpu_s: number;
  mb_per_s: number;
  cpu_us_per_line: number;
  /** The main thread's share (the encoder worker runs beside it). */
  main_cpu_us_per_line: number;
  rows: number;
  peak_rss_mib: number;
  rss_increase_mib: number;
}

const vmHwmMiB = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024;

/** Realistic variety: request ids, paths with queries, retries, IPv6 clients, failures. */
function lineFor(workload: Workload, i: number): string {
  const id = `${(i * 2654435761) % 4294967296}`.padStart(10, '0');
  if (workload === 'nginx') {
    const base = i % 10 === 0 ? NGINX.retries : i % 25 === 0 ? NGINX.ipv6 : NGINX.upstreaminfo;
    return base
      .replace(/7f3c2a9b4d5e6f708192a3b4c5d6e7f8|req-42|0123456789abcdef0123456789abcdef/, `${id}a1b2c3d4e5f60718293a`)
      .replace('/shop/cart?session=abc', `/shop/item/${i % 5000}?session=${id}`)
      .replace('07:00:0', `07:${String(Math.floor(i / 60_000) % 60).padStart(2, '0')}:0`);
  }
  const base = i % 2 === 0 ? ENVOY.outbound : i % 50 === 1 ? ENVOY.failed : ENVOY.inbound;
  return base
    .replace(/0b7c8f1e-4a2b-9c3d-8e7f-1a2b3c4d5e6f|a1b2/, `${id}-4a2b-9c3d-8e7f-1a2b3c4d5e6f`)
    .replace('/reviews/1?user=bob', `/reviews/${i % 5000}?user=${id}`)
    .replace(/07:00:2\d/, `07:${String(Math.floor(i / 60_000) % 60).padStart(2, '0')}:20`);
}

function writeFiles(dir: string, workload: Workload, lines: number): number {
  const base: PodFile = workload === 'nginx' ? INGRESS_POD : SIDECAR_POD;
  let bytes = 0;
  const per = Math.ceil(lines / FILES);
  for (let f = 0; f < FILES; f++) {
    const pod = { ...base, pod: `${base.pod}-${f}`, uid: base.uid.replace(/.$/, String(f)) };
    let content = '';
    for (let i = f * per; i < Math.min(lines, (f + 1) * per); i += 10_000) {
      const chunk = Array.from({ length: Math.min(10_000, (f + 1) * per - i) }, (_, k) => lineFor(workload, i + k));
      content += criLines(chunk, 0, i);
    }
    bytes += statSync(writePodLog(join(dir, 'pods'), pod, content)).size;
  }
  return bytes;
}

function sourceConfig(dir: string): Extract<SourceConfig, { type: 'container-logs' }> {
  const c = parseConfig(
    JSON.stringify({
      node_name: 'bench',
      spool: { dir: 'spool' },
      store: { type: 'local', dir: 'landing' },
      sources: [{ type: 'container-logs', include: ['pods/*/*/*.log'], start_at: 'beginning' }],
    }),
    join(dir, 'hoptrace.yaml'),
    {},
  );
  return c.sources[0] as Extract<SourceConfig, { type: 'container-logs' }>;
}

async function runOne(workload: Workload, stage: Stage, lines: number): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'hoptrace-bench-logs-'));
  const fileBytes = writeFiles(dir, workload, lines);
  const metrics = new AgentMetrics({ defaultMetrics: false });
  const abort = new AbortController();
  let rows = 0;
  let pipeline: Pipeline | undefined;
  let spool: Spool | undefined;
  let encoder: ParquetEncoder | undefined;
  if (stage === 'e2e') {
    spool = await Spool.open(join(dir, 'spool'), 8 * 1024 ** 3);
    encoder = new ParquetEncoder({
      compression: 'zstd',
      rowGroupRows: 100_000,
      createdBy: `hoptrace ${AGENT_VERSION}`,
    });
    pipeline = new Pipeline(
      {
        batch: { maxRows: 100_000, maxBytes: 32 * 1024 ** 2, maxAgeMs: 30_000, maxOpen: 64 },
        bufferMaxBytes: 256 * 1024 ** 2,
      },
      spool,
      encoder,
      metrics,
      silentLogger,
    );
    // Start and warm every encoder worker (thread start, module loading) outside the clock, with an empty file each.
    const pool = encoder;
    await Promise.all(
      Array.from({ length: pool.workers }, () => pool.encode(new TableBatch(TABLES.flows, 0, 0, () => {}).toColumns())),
    );
  }
  const ctx: SourceContext = {
    node: 'bench',
    logger: silentLogger,
    metrics,
    queryHasher: new QueryHasher(process.env.HOPTRACE_BENCH_QUERY_HASH_KEY),
    signal: abort.signal,
    hasCapacity: () => pipeline?.hasCapacity() ?? true,
    waitForCapacity: () => pipeline?.waitForCapacity() ?? Promise.resolve(),
    emit: (records: readonly TableRecord[], onDurable?: () => void) => {
      rows += records.length;
      if (pipeline) pipeline.accept('container-logs', records, onDurable);
      else onDurable?.();
    },
    offer: () => true,
    lose: () => {},
    checkpoint: (key) => spool?.checkpoint(key),
    setCheckpoint: (key, value) => spool?.setCheckpoint(key, value),
  };
  const source =
    stage === 'read'
      ? new Tailer<object>({
          name: 'bench',
          table: 'http_requests',
          include: [join(dir, 'pods/*/*/*.log')],
          format: 'cri',
          select: () => ({ meta: {} }),
          consume: (_f, l) => {
            rows += l.length;
            return [];
          },
          startAt: 'beginning',
          pollIntervalMs: 250,
          discoverIntervalMs: 2000,
          rotateWaitMs: 5000,
          maxOpenFiles: 512,
          maxLineBytes: 64 * 1024,
          readBufferBytes: 256 * 1024,
          readBudgetBytes: 1024 * 1024,
          fingerprintBytes: 1024,
        })
      : new ContainerLogsSource(sourceConfig(dir));

  (globalThis as { gc?: () => void }).gc?.();
  writeFileSync('/proc/self/clear_refs', '5');
  const rssBefore = process.memoryUsage().rss / 1024 ** 2;
  const cpu0 = process.cpuUsage();
  const main0 = process.threadCpuUsage();
  const t0 = performance.now();
  await source.run(ctx, 'drain');
  if (pipeline) await pipeline.flushAll();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const main = process.threadCpuUsage(main0);
  const peak = vmHwmMiB();
  const drops = metrics.drops();
  if (drops.length) throw new Error(`lines were dropped: ${JSON.stringify(drops)}`);
  if (stage === 'e2e') {
    const spooled = spool!.pending().length;
    if (!spooled) throw new Error('nothing spooled');
  }
  await encoder?.close();
  rmSync(dir, { recursive: true, force: true });
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return {
    workload,
    stage,
    lines,
    file_mb: round(fileBytes / 1e6, 1),
    seconds: round(seconds, 2),
    lines_per_s: Math.round(lines / seconds),
    lines_per_cpu_s: Math.round(lines / cpuSeconds),
    mb_per_s: round(fileBytes / 1e6 / seconds, 1),
    cpu_us_per_line: round((cpuSeconds * 1e6) / lines, 2),
    main_cpu_us_per_line: round((main.user + main.system) / lines, 2),
    rows,
    peak_rss_mib: Math.round(peak),
    rss_increase_mib: Math.round(peak - rssBefore),
  };
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

const args = process.argv.slice(2);
if (args[0] === '--one') {
  const result = await runOne(args[1] as Workload, args[2] as Stage, Number(args[3]));
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  const scale = Number(process.env.HOPTRACE_BENCH_SCALE ?? '1');
  const lines = Math.max(10_000, Math.round(LINES * scale));
  const self = fileURLToPath(import.meta.url);
  const results: Result[] = [];
  console.log(
    `hoptrace ${AGENT_VERSION} container-logs benchmark — ${cpus().length} × ${cpus()[0]?.model}, ${Math.round(totalmem() / 1024 ** 3)} GiB, node ${process.version}`,
  );
  console.log(
    `${lines} CRI lines per workload in ${FILES} files; stages: read (tail + CRI), parse (+ parse, strip, map), e2e (+ batch, encode with ${defaultEncodeWorkers()} encoder worker(s), spool)\n`,
  );
  console.log(
    'workload stage   lines   file MB  seconds  lines/s  lines/CPU-s  MB/s  CPU µs/line (main)  peak RSS MiB (Δ)',
  );
  for (const workload of ['nginx', 'envoy'] as const)
    for (const stage of ['read', 'parse', 'e2e'] as const) {
      const out = execFileSync(process.execPath, ['--expose-gc', self, '--one', workload, stage, String(lines)], {
        encoding: 'utf8',
        maxBuffer: 16 * 1024 * 1024,
      });
      const r = JSON.parse(out.trim().split('\n').pop()!) as Result;
      if (stage !== 'read' && r.rows !== lines)
        throw new Error(`${workload}/${stage}: ${r.rows} rows for ${lines} lines`);
      results.push(r);
      console.log(
        `${r.workload.padEnd(8)} ${r.stage.padEnd(5)} ${String(r.lines).padStart(7)} ${String(r.file_mb).padStart(9)} ${String(r.seconds).padStart(8)} ${String(r.lines_per_s).padStart(8)} ${String(r.lines_per_cpu_s).padStart(12)} ${String(r.mb_per_s).padStart(5)} ${String(r.cpu_us_per_line).padStart(12)} (${r.main_cpu_us_per_line}) ${String(r.peak_rss_mib).padStart(8)} (${r.rss_increase_mib})`,
      );
    }
  if (process.env.HOPTRACE_BENCH_JSON)
    writeFileSync(process.env.HOPTRACE_BENCH_JSON, `${JSON.stringify(results, null, 2)}\n`);
}

// make bench — one real agent under simulated traffic at a stated rate, in
// real time. The simulator writes a cluster's inputs (2 nodes: its minimum);
// this driver replays node-01's share as it happens — container-log lines
// appended to the kubelet files and Hubble export lines to the export file
// when the wall clock reaches their timestamps, OTLP/JSON export requests
// posted when they were sent — to one `hoptrace run` process with the
// shipped batching defaults (30 s files) and a local store. It samples the
// agent's CPU and RSS from /proc and its /metrics every second, and at the
// end computes each landed row's landing latency: the object's landing time
// (file time) minus the row's event time (the request's or flow's end).
//
//   node bench/scale-run.bench.ts [--rate 400] [--duration 60s] [--json FILE]
//
// HOPTRACE_BENCH_SCALE multiplies the rate (make bench runs it at 1: a little
// over two minutes of wall time, most of it the traffic and the last batch).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AGENT_VERSION } from '../agent/src/ops/metrics.ts';
import { makeConfig, parseDurationS } from '../sim/src/config.ts';
import { createLiveFiles, loadNodeFiles, replayFiles } from '../sim/src/feed/files.ts';
import { type OtlpRequestLine, sendOtlp } from '../sim/src/feed/otlp.ts';
import { landedFiles, type Percentiles, percentiles, recordLandingLatencies } from '../sim/src/run/freshness.ts';
import { simulate } from '../sim/src/simulate.ts';

const REPO = resolve(import.meta.dirname, '..');
const AGENT = join(REPO, 'agent', 'bin', 'hoptrace.ts');
const NODE = 'node-01';
const TICK_MS = 100;
/** The shipped batch.max_age: the agent rolls a file at most this long after its first row. */
const MAX_AGE_S = 30;
const IDLE_S = 8;

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '400' },
    duration: { type: 'string', default: '60s' },
    json: { type: 'string' },
    keep: { type: 'boolean' },
  },
});
const scale = Number(process.env.HOPTRACE_BENCH_SCALE ?? '1');
const rate = Math.max(5, Math.round(Number(values.rate) * scale));
const durationS = parseDurationS(values.duration);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

// --- inputs --------------------------------------------------------------------------------------

// --- the agent's figures --------------------------------------------------------------------------

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

function cpuSeconds(pid: number): number {
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

function memMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** Sum of every series of `name` in Prometheus text whose labels match `labels`. */
function metric(text: string, name: string, labels: RegExp = /.*/): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name && labels.test(m[2] ?? '')) sum += Number(m[3]);
  }
  return sum;
}

interface Counters {
  lines: number;
  flows: number;
  spans: number;
  records: number;
  spoolBytes: number;
  lagBytes: number;
}

async function scrape(port: number): Promise<Counters | undefined> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return {
      lines: metric(text, 'hoptrace_tail_records_total', /source="container-logs"/),
      flows: metric(text, 'hoptrace_hubble_events_total', /kind="flow"/),
      spans: metric(text, 'hoptrace_otlp_spans_received_total'),
      records: metric(text, 'hoptrace_records_in_total'),
      spoolBytes: metric(text, 'hoptrace_spool_bytes'),
      lagBytes: metric(text, 'hoptrace_tail_lag_bytes'),
    };
  } catch {
    return undefined;
  }
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

// --- the run -------------------------------------------------------------------------------------

const work = join(tmpdir(), `hoptrace-scale-run-${process.pid}`);
rmSync(work, { recursive: true, force: true });
const simDir = join(work, 'sim');
const live = join(work, 'live');
const landing = join(work, 'landing');
const say = (m: string) => process.stderr.write(`  ${m}\n`);

// The simulation takes 1–2 ms per request on a busy machine: start its time after it is written.
const leadMs = 10_000 + rate * durationS * 2;
const startMs = Math.ceil((Date.now() + leadMs) / 1000) * 1000;
const t0 = Date.now();
const manifest = simulate(
  makeConfig({ seed: 11, nodes: 2, rate, durationS, startUs: startMs * 1000, logMaxBytes: 2 ** 40 }),
  simDir,
);
say(`simulated ${manifest.counts.requests} requests in ${round((Date.now() - t0) / 1000)}s`);
const node = manifest.nodes.find((n) => n.name === NODE)!;
const root = join(simDir, node.root);
const files = loadNodeFiles(root, node.skew_us);
const otlp = readFileSync(join(root, 'otlp', 'requests.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as OtlpRequestLine);
const input = {
  lines: files.filter((f) => f.rel.startsWith('var/log/pods/')).reduce((n, f) => n + f.lines.length, 0),
  flows: files.filter((f) => f.rel.includes('/hubble/')).reduce((n, f) => n + f.lines.length, 0),
  spans: otlp.reduce(
    (n, l) =>
      n +
      ((l.body as { resourceSpans?: { scopeSpans?: { spans?: unknown[] }[] }[] }).resourceSpans ?? []).reduce(
        (a, rs) => a + (rs.scopeSpans ?? []).reduce((b, ss) => b + (ss.spans ?? []).length, 0),
        0,
      ),
    0,
  ),
};
createLiveFiles(files, live);

const otlpPort = await freePort();
const metricsPort = await freePort();
const config = join(work, 'hoptrace.yaml');
writeFileSync(
  config,
  `node_name: ${NODE}
spool:
  dir: ${work}/spool
store:
  type: local
  dir: ${landing}
  prefix: hoptrace
server:
  host: 127.0.0.1
  port: ${metricsPort}
log:
  level: warn
sources:
  - type: container-logs
    include: ['${live}/var/log/pods/*/*/*.log']
    start_at: beginning
  - type: hubble-export
    include: ['${live}/var/run/cilium/hubble/events.log']
    start_at: beginning
  - type: otlp
    grpc: { enabled: false }
    http: { host: 127.0.0.1, port: ${otlpPort} }
`,
);
const agent: ChildProcess = spawn(process.execPath, [AGENT, 'run', '--config', config], {
  stdio: ['ignore', 'ignore', 'inherit'],
});
const pid = agent.pid!;
const exited = new Promise<number | null>((r) => agent.on('exit', (c) => r(c)));
for (let i = 0; !(await scrape(metricsPort)); i++) {
  if (i > 100) throw new Error('the agent did not start serving /metrics');
  await sleep(200);
}
if (Date.now() > startMs) say(`the simulation overran its lead by ${round((Date.now() - startMs) / 1000)}s`);
await sleep(startMs - Date.now());

// Samples: CPU and counters at the start of the traffic and every second after.
const cpu0 = cpuSeconds(pid);
const base = (await scrape(metricsPort))!;
let spoolPeak = 0;
let rssPeak = 0;
const sampler = setInterval(async () => {
  rssPeak = Math.max(rssPeak, memMiB(pid, 'VmRSS'));
  const c = await scrape(metricsPort);
  if (c) spoolPeak = Math.max(spoolPeak, c.spoolBytes);
}, 1000);

const endMs = startMs + durationS * 1000;
const sending = (async () => {
  const endpoint = `http://127.0.0.1:${otlpPort}`;
  for (const line of otlp) {
    await sleep(Date.parse(line.sent_at) - Date.now());
    await sendOtlp(endpoint, [line], { maxRetries: 60 });
  }
})();
const { behindMs } = await replayFiles(files, live, { sinceMs: startMs, tickMs: TICK_MS });
await sending;
const trafficEnd = Date.now();
const cpuTraffic = cpuSeconds(pid) - cpu0;
const atEnd = (await scrape(metricsPort))!;
// Let every open batch roll by age (not by the shutdown), then stop the agent gracefully.
while (Date.now() < endMs + (MAX_AGE_S + 8) * 1000) {
  const c = await scrape(metricsPort);
  if (c) spoolPeak = Math.max(spoolPeak, c.spoolBytes);
  await sleep(1000);
}
clearInterval(sampler);
const cpuAll = cpuSeconds(pid) - cpu0;
const cpuAllS = (Date.now() - startMs) / 1000;
// The idle agent's own CPU (timers, heartbeats, polling), to tell it from the per-record cost.
const idle0 = { at: Date.now(), cpu: cpuSeconds(pid) };
await sleep(IDLE_S * 1000);
const idleCpuPerS = (cpuSeconds(pid) - idle0.cpu) / ((Date.now() - idle0.at) / 1000);
const hwm = memMiB(pid, 'VmHWM');
const final = (await scrape(metricsPort))!;
agent.kill('SIGTERM');
const code = await exited;
if (code !== 0) throw new Error(`the agent exited with ${code}`);

const lat: Record<string, Percentiles> = {};
const all: number[] = [];
for (const t of ['http_requests', 'flows', 'spans']) {
  const v = recordLandingLatencies(landing, t);
  lat[t] = percentiles(v);
  all.push(...v);
}
let landedBytes = 0;
for (const t of ['http_requests', 'flows', 'spans', 'k8s_objects', 'k8s_events', 'agent_heartbeats'])
  for (const f of landedFiles(landing, t, [])) landedBytes += f.bytes;
const wall = (trafficEnd - startMs) / 1000;
const d = (k: keyof Counters) => final[k] - base[k];
const records = d('records');
const result = {
  date: new Date().toISOString().slice(0, 10),
  machine: `${cpus().length} × ${cpus()[0]?.model}, ${Math.round(totalmem() / 1024 ** 3)} GiB, node ${process.version}`,
  load_average: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
  agent_version: AGENT_VERSION,
  cluster_rate_rps: rate,
  duration_s: durationS,
  node: NODE,
  input,
  ingested: { lines: d('lines'), flows: d('flows'), spans: d('spans'), records },
  per_second: {
    lines: round(d('lines') / durationS),
    flows: round(d('flows') / durationS),
    spans: round(d('spans') / durationS),
    records: round(records / durationS),
  },
  caught_up_at_traffic_end: atEnd.lagBytes === 0,
  writer_max_late_ms: Math.round(behindMs),
  cpu: {
    traffic_s: round(cpuTraffic, 2),
    total_s: round(cpuAll, 2),
    core_share_during_traffic: round(cpuTraffic / wall, 3),
    us_per_record: round((cpuAll * 1e6) / Math.max(1, records), 1),
    idle_core_share: round(idleCpuPerS, 4),
    us_per_record_net_of_idle: round(((cpuAll - idleCpuPerS * cpuAllS) * 1e6) / Math.max(1, records), 1),
  },
  rss_mib: { peak_sampled: Math.round(rssPeak), high_water_mark: Math.round(hwm) },
  spool_peak_bytes: spoolPeak,
  landed_bytes: landedBytes,
  landing_latency_s: Object.fromEntries(
    Object.entries({ ...lat, all: percentiles(all) }).map(([t, p]) => [
      t,
      { rows: p.n, p50: round(p.p50 / 1000, 2), p99: round(p.p99 / 1000, 2), max: round(p.max / 1000, 2) },
    ]),
  ),
};
if (!values.keep) rmSync(work, { recursive: true, force: true });

console.log(
  `hoptrace ${AGENT_VERSION} scale run — ${result.machine}, load ${result.load_average}\n` +
    `${rate} requests/s cluster-wide for ${durationS}s (2 simulated nodes); one agent for ${NODE}: container logs, ` +
    `Hubble export file, OTLP/HTTP; shipped batching (30 s files); local store\n`,
);
const fmt = (p: { rows: number; p50: number; p99: number; max: number }) =>
  `${String(p.rows).padStart(8)} ${`${p.p50}`.padStart(7)} ${`${p.p99}`.padStart(7)} ${`${p.max}`.padStart(7)}`;
console.log(
  [
    `written            ${input.lines} log lines, ${input.flows} Hubble lines, ${input.spans} spans`,
    `ingested           ${result.ingested.lines} log lines, ${result.ingested.flows} flows, ${result.ingested.spans} spans (${records} records)`,
    `per second         ${result.per_second.lines} lines, ${result.per_second.flows} flows, ${result.per_second.spans} spans (${result.per_second.records} records)`,
    `agent CPU          ${result.cpu.total_s} s (${result.cpu.core_share_during_traffic} of a core during the traffic), ${result.cpu.us_per_record} µs per record; ` +
      `idle ${result.cpu.idle_core_share} of a core, ${result.cpu.us_per_record_net_of_idle} µs per record net of it`,
    `agent RSS          peak ${result.rss_mib.peak_sampled} MiB sampled, high-water mark ${result.rss_mib.high_water_mark} MiB`,
    `spool peak         ${(spoolPeak / 1024 ** 2).toFixed(1)} MiB; landed ${(landedBytes / 1024 ** 2).toFixed(1)} MiB`,
    `caught up at end   ${result.caught_up_at_traffic_end ? 'yes' : 'no (tail lag at the end of the traffic)'}; the file writer at most ${Math.round(behindMs)} ms late`,
    '',
    `landing latency (s)    rows     p50     p99     max`,
    ...Object.entries(result.landing_latency_s).map(([t, p]) => `  ${t.padEnd(16)} ${fmt(p)}`),
  ].join('\n'),
);
if (values.json ?? process.env.HOPTRACE_BENCH_JSON)
  writeFileSync((values.json ?? process.env.HOPTRACE_BENCH_JSON)!, `${JSON.stringify(result, null, 2)}\n`);

// make bench — the flow sources end to end to the spool: Hubble over gRPC,
// the Hubble export file, and Calico flow logs. Flows/s per core counts the
// agent process's CPU (all threads: source, pipeline, Parquet worker); peak
// RSS is its high-water mark during the run.
//
// Each mode runs in its own agent process. For gRPC a second process serves
// the pre-encoded flows from the Hubble test server (a real grpc-js server on
// a unix socket, respecting HTTP/2 backpressure), so its work is not counted.
// Files are written before the clock starts. Uploads go to a store that keeps
// nothing: what is measured ends at the fsynced spool.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Agent } from '../agent/src/agent.ts';
import { formatUs, nowUs } from '../agent/src/contract/time.ts';
import { silentLogger } from '../agent/src/ops/logger.ts';
import { AGENT_VERSION } from '../agent/src/ops/metrics.ts';
import type { ObjectStore } from '../agent/src/store/store.ts';
import { testConfig } from '../test/support/agent.ts';
import { flowResponse } from '../test/support/hubble-flows.ts';
import { HubbleTestServer } from '../test/support/hubble-server.ts';
import { prng } from './rows.ts';

type Mode = 'hubble-grpc' | 'hubble-export' | 'calico';
const FLOWS: Record<Mode, number> = { 'hubble-grpc': 200_000, 'hubble-export': 200_000, calico: 100_000 };

interface Result {
  mode: Mode;
  flows: number;
  seconds: number;
  flows_per_s: number;
  cpu_us_per_flow: number;
  flows_per_core_s: number;
  input_bytes_per_flow: number;
  parquet_bytes_per_flow: number;
  peak_rss_mib: number;
  rss_increase_mib: number;
}

const vmHwmMiB = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024;
const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

class DiscardingStore implements ObjectStore {
  readonly kind = 'local';
  readonly location = 'discard://';
  async put(): Promise<void> {}
  async close(): Promise<void> {}
}

// --- synthetic flows: node-local traffic of a few hundred pods ---------------------

const namespaces = ['shop', 'payments', 'search', 'identity', 'ingress-nginx'];

/** A Hubble flow as protojson: 90 % L3/L4 TCP, 10 % L7 HTTP with correlation headers. */
function hubbleFlow(i: number, timeUs: number, r: () => number): Record<string, unknown> {
  const app = (side: string) => `svc-${(r() * 120) | 0}-${side}`;
  const ns = namespaces[(r() * namespaces.length) | 0]!;
  const endpoint = (name: string) => ({
    ID: 100 + ((r() * 3000) | 0),
    identity: 40000 + ((r() * 500) | 0),
    namespace: ns,
    labels: [
      `k8s:app=${name}`,
      `k8s:io.kubernetes.pod.namespace=${ns}`,
      'k8s:io.cilium.k8s.policy.cluster=default',
      `k8s:io.cilium.k8s.policy.serviceaccount=${name}`,
      `k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=${ns}`,
      'k8s:version=v1',
    ],
    pod_name: `${name}-5d8f7b9c4-${((r() * 0xfffff) | 0).toString(36)}`,
    workloads: [{ name, kind: 'Deployment' }],
  });
  const l7 = i % 10 === 9;
  return {
    time: `${formatUs(timeUs).slice(0, -1)}123Z`,
    uuid: `${(i >>> 0).toString(16).padStart(8, '0')}-4b1c-4d2e-9f3a-${((r() * 2 ** 48) | 0).toString(16).padStart(12, '0')}`,
    verdict: 'FORWARDED',
    IP: {
      source: `10.244.${(r() * 250) | 0}.${(r() * 250) | 0}`,
      destination: `10.244.${(r() * 250) | 0}.7`,
      ipVersion: 'IPv4',
    },
    l4: {
      TCP: { source_port: 1024 + ((r() * 60000) | 0), destination_port: 8080, flags: { ACK: true, PSH: r() < 0.5 } },
    },
    source: endpoint(app('a')),
    destination: endpoint(app('b')),
    Type: l7 ? 'L7' : 'L3_L4',
    node_name: 'default/node-bench',
    event_type: { type: l7 ? 129 : 4 },
    traffic_direction: r() < 0.5 ? 'INGRESS' : 'EGRESS',
    ...(l7
      ? {
          l7: {
            type: 'REQUEST',
            http: {
              method: 'GET',
              url: `http://cart.shop.svc:8080/api/v1/cart/${(r() * 1e6) | 0}?session=abc`,
              protocol: 'HTTP/1.1',
              headers: [
                { key: 'X-Request-Id', value: `${(r() * 2 ** 32) >>> 0}-req` },
                { key: 'traceparent', value: `00-${'4bf92f3577b34da6a3ce929d0e0e4736'}-00f067aa0ba902b7-01` },
                { key: 'User-Agent', value: 'curl/8.5.0' },
                { key: 'Accept', value: '*/*' },
              ],
            },
          },
        }
      : { trace_observation_point: 'TO_ENDPOINT' }),
    is_reply: r() < 0.5,
    Summary: 'TCP Flags: ACK',
  };
}

function calicoRecord(i: number, endS: number, r: () => number): Record<string, unknown> {
  const name = `svc-${(r() * 120) | 0}`;
  return {
    start_time: endS - 300,
    end_time: endS,
    source_ip: `10.244.${(r() * 250) | 0}.${(r() * 250) | 0}`,
    source_name: `${name}-5d8f7b9c4-x2x9q`,
    source_name_aggr: `${name}-5d8f7b9c4-*`,
    source_namespace: namespaces[i % namespaces.length],
    source_port: null,
    source_type: 'wep',
    source_labels: { labels: [`app=${name}`, 'pod-template-hash=5d8f7b9c4'] },
    dest_ip: `10.244.${(r() * 250) | 0}.7`,
    dest_name: 'cart-5f6d7c8b9-k4k2m',
    dest_name_aggr: 'cart-5f6d7c8b9-*',
    dest_namespace: 'cart',
    dest_port: 8080,
    dest_type: 'wep',
    dest_labels: { labels: ['app=cart'] },
    dest_service_namespace: 'cart',
    dest_service_name: 'cart',
    dest_service_port: 'http',
    dest_service_port_num: 80,
    proto: 'tcp',
    action: r() < 0.99 ? 'allow' : 'deny',
    reporter: r() < 0.5 ? 'src' : 'dst',
    policies: { enforced_policies: ['0|default|cart/default.allow-shop|allow|0'] },
    bytes_in: (r() * 1e6) | 0,
    bytes_out: (r() * 1e6) | 0,
    packets_in: (r() * 1e3) | 0,
    packets_out: (r() * 1e3) | 0,
    num_flows: 1 + ((r() * 20) | 0),
  };
}

// --- the gRPC server process ------------------------------------------------------

async function serveProcess(socket: string, n: number, baseUs: number): Promise<void> {
  const server = await HubbleTestServer.start(socket);
  const r = prng(7);
  let bytes = 0;
  for (let i = 0; i < n; i += 10_000) {
    const chunk = [];
    for (let k = i; k < Math.min(n, i + 10_000); k++) chunk.push(flowResponse(hubbleFlow(k, baseUs + k * 50, r)));
    server.publish(chunk);
  }
  bytes = (server as unknown as { entries: { bytes: Uint8Array }[] }).entries.reduce((s, e) => s + e.bytes.length, 0);
  process.stdout.write(`${JSON.stringify({ ready: true, bytes })}\n`);
  for await (const _ of createInterface({ input: process.stdin })) {
  }
  await server.stop();
  process.exit(0);
}

// --- the agent process --------------------------------------------------------------

async function eventually(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 5));
}

async function runMode(mode: Mode, n: number): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'hoptrace-flows-bench-'));
  const baseUs = Math.floor(nowUs() / 3_600_000_000) * 3_600_000_000 - 3_600_000_000;
  let server: ChildProcess | undefined;
  let source: Record<string, unknown>;
  let inputBytes = 0;
  if (mode === 'hubble-grpc') {
    const socket = join(dir, 'hubble.sock');
    server = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve', socket, String(n), String(baseUs)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const first = await new Promise<string>((resolve) =>
      createInterface({ input: server!.stdout! }).once('line', resolve),
    );
    inputBytes = (JSON.parse(first) as { bytes: number }).bytes;
    source = { type: 'hubble', address: `unix://${socket}`, initial_lookback: '3h' };
  } else {
    const path = join(dir, mode === 'calico' ? 'flows.log' : 'events.log');
    const r = prng(7);
    // Written in chunks, so the input does not sit in this process's memory during the run.
    const fd = openSync(path, 'w');
    for (let i = 0; i < n; i += 10_000) {
      let chunk = '';
      for (let k = i; k < Math.min(n, i + 10_000); k++) {
        const t = baseUs + k * 50;
        chunk += `${JSON.stringify(
          mode === 'calico'
            ? calicoRecord(k, Math.floor(t / 1e6), r)
            : { flow: hubbleFlow(k, t, r), node_name: 'default/node-bench', time: `${formatUs(t).slice(0, -1)}123Z` },
        )}\n`;
      }
      inputBytes += writeSync(fd, chunk);
    }
    closeSync(fd);
    source = { type: mode, include: [path], start_at: 'beginning' };
  }
  const config = testConfig(dir, { spool: { dir: join(dir, 'spool'), max_bytes: '8GiB' }, sources: [source] });
  const agent = new Agent(config, { logger: silentLogger, store: new DiscardingStore() });

  (globalThis as { gc?: () => void }).gc?.();
  writeFileSync('/proc/self/clear_refs', '5');
  const rssBefore = process.memoryUsage().rss / 1024 ** 2;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  if (mode === 'hubble-grpc') {
    await agent.start('follow');
    await eventually(async () => {
      const m = await agent.metrics.hubbleEvents.get();
      return m.values.filter((v) => v.labels.kind === 'flow').reduce((s, v) => s + v.value, 0) >= n;
    });
    await agent.stop(Number.POSITIVE_INFINITY);
  } else {
    await agent.start('drain');
    await agent.drain();
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const peak = vmHwmMiB();
  server?.stdin?.end();
  const spooled = (await agent.metrics.recordsSpooled.get()).values.find((v) => v.labels.table === 'flows')?.value ?? 0;
  const parquet = (await agent.metrics.bytesSpooled.get()).values.find((v) => v.labels.table === 'flows')?.value ?? 0;
  if (spooled !== n || agent.metrics.drops().length || agent.metrics.losses().length)
    throw new Error(`${mode}: ${spooled} of ${n} spooled; drops ${JSON.stringify(agent.metrics.drops())}`);
  rmSync(dir, { recursive: true, force: true });
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return {
    mode,
    flows: n,
    seconds: round(seconds, 2),
    flows_per_s: Math.round(n / seconds),
    cpu_us_per_flow: round((cpuSeconds * 1e6) / n, 1),
    flows_per_core_s: Math.round(n / cpuSeconds),
    input_bytes_per_flow: Math.round(inputBytes / n),
    parquet_bytes_per_flow: round(parquet / n, 1),
    peak_rss_mib: Math.round(peak),
    rss_increase_mib: Math.round(peak - rssBefore),
  };
}

// --- main -------------------------------------------------------------------------------

const args = process.argv.slice(2);
if (args[0] === '--serve') {
  await serveProcess(args[1]!, Number(args[2]), Number(args[3]));
} else if (args[0] === '--run') {
  const result = await runMode(args[1] as Mode, Number(args[2]));
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} else {
  const scale = Number(process.env.HOPTRACE_BENCH_SCALE ?? '1');
  const self = fileURLToPath(import.meta.url);
  console.log(
    `hoptrace ${AGENT_VERSION} flow sources benchmark — ${cpus().length} × ${cpus()[0]?.model}, ${Math.round(totalmem() / 1024 ** 3)} GiB, node ${process.version}`,
  );
  console.log('source → map → batch → encode (Parquet ZSTD, worker) → spool (fsync); agent process CPU, all threads\n');
  console.log(
    'source           flows   wall s   flows/s  cpu µs/flow  flows/core·s  input B/flow  parquet B/flow  peak RSS MiB (Δ)',
  );
  const results: Result[] = [];
  for (const mode of Object.keys(FLOWS) as Mode[]) {
    const n = Math.max(1000, Math.round(FLOWS[mode] * scale));
    const out = execFileSync(process.execPath, ['--expose-gc', self, '--run', mode, String(n)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const r = JSON.parse(out.trim().split('\n').pop()!) as Result;
    results.push(r);
    console.log(
      `${r.mode.padEnd(14)} ${String(r.flows).padStart(7)} ${String(r.seconds).padStart(8)} ${String(r.flows_per_s).padStart(9)} ${String(r.cpu_us_per_flow).padStart(12)} ${String(r.flows_per_core_s).padStart(13)} ${String(r.input_bytes_per_flow).padStart(13)} ${String(r.parquet_bytes_per_flow).padStart(15)} ${String(r.peak_rss_mib).padStart(8)} (${r.rss_increase_mib})`,
    );
  }
  if (process.env.HOPTRACE_BENCH_JSON)
    writeFileSync(process.env.HOPTRACE_BENCH_JSON, `${JSON.stringify(results, null, 2)}\n`);
}

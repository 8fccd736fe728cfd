// make bench — the OTLP receiver: spans/s and CPU per span from the wire to
// the spool, over gRPC and HTTP (protobuf and JSON), with peak RSS.
//
// Three processes per protocol, so the client's work is not counted:
//   agent  — a real Agent with the OTLP source, a real fsynced spool and a
//            store that accepts uploads without keeping them (uploads are not
//            what is measured); it measures its own CPU (all threads) and RSS.
//   client — sends pre-encoded export requests of 512 spans (the SDK's
//            default batch), a few in flight, over keep-alive connections.
//   main   — runs a warm-up, then the measured load, then asks the agent to
//            flush everything to the spool and report.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent as HttpAgent, request } from 'node:http';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { AGENT_VERSION } from '../agent/src/ops/metrics.ts';
import { TRACE_EXPORT_PATH } from '../agent/src/sources/otlp/protos.ts';
import type { ObjectStore } from '../agent/src/store/store.ts';
import { jsonToProtobuf, startOtlpAgent } from '../test/support/otlp.ts';
import { prng } from './rows.ts';

type Protocol = 'grpc' | 'http-protobuf' | 'http-json';
const PROTOCOLS: readonly Protocol[] = ['grpc', 'http-protobuf', 'http-json'];
const SPANS_PER_REQUEST = 512;
const REQUESTS = 600;
const IN_FLIGHT = 4;
const DISTINCT_BODIES = 24;
const WARMUP_REQUESTS = 8;

interface AgentReport {
  spans_spooled: number;
  files: number;
  seconds: number;
  cpu_seconds: number;
  peak_rss_mib: number;
  rss_before_mib: number;
  drops: readonly unknown[];
}

const vmHwmMiB = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024;
const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

/** Uploads succeed at once and keep nothing: the spool drains, and only the receiver-to-spool path costs. */
class DiscardingStore implements ObjectStore {
  readonly kind = 'local';
  readonly location = 'discard://';
  async put(): Promise<void> {}
  async close(): Promise<void> {}
}

// --- the agent process ---------------------------------------------------------

async function agentProcess(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hoptrace-otlp-bench-'));
  const { agent, ports } = await startOtlpAgent(
    dir,
    { max_request_bytes: '64MiB', max_inflight_bytes: '256MiB' },
    { spool: { dir: join(dir, 'spool'), max_bytes: '8GiB' } },
    new DiscardingStore(),
  );
  process.stdout.write(`${JSON.stringify(ports)}\n`);
  let t0 = 0;
  let cpu0 = process.cpuUsage();
  let rssBefore = 0;
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'start') {
      (globalThis as { gc?: () => void }).gc?.();
      writeFileSync('/proc/self/clear_refs', '5');
      rssBefore = process.memoryUsage().rss / 1024 ** 2;
      cpu0 = process.cpuUsage();
      t0 = performance.now();
      process.stdout.write('started\n');
    } else if (line === 'stop') {
      const summary = await agent.stop(Number.POSITIVE_INFINITY);
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const spans = summary.tables.find((t) => t.table === 'spans');
      const report: AgentReport = {
        spans_spooled: spans?.records ?? 0,
        files: spans?.files ?? 0,
        seconds,
        cpu_seconds: (cpu.user + cpu.system) / 1e6,
        peak_rss_mib: vmHwmMiB(),
        rss_before_mib: rssBefore,
        drops: summary.drops,
      };
      process.stdout.write(`${JSON.stringify(report)}\n`);
      rmSync(dir, { recursive: true, force: true });
      return;
    }
  }
}

// --- the client process --------------------------------------------------------

function requestJson(seed: number): unknown {
  const r = prng(seed);
  const hex = (n: number) => {
    let s = '';
    for (let i = 0; i < n; i++) s += ((r() * 16) | 0).toString(16);
    return s;
  };
  const str = (v: string) => ({ stringValue: v });
  const kv = (key: string, value: unknown) => ({ key, value });
  const t0 = 1_795_590_000_000_000_000n + BigInt(seed) * 1_000_000_000n;
  const routes = ['/api/v1/cart', '/api/v1/cart/checkout', '/api/v2/orders/{id}', '/api/v1/users/{id}'];
  return {
    resourceSpans: [
      {
        resource: {
          attributes: [
            kv('service.name', str(`svc-${seed % 40}`)),
            kv('service.version', str('1.42.0')),
            kv('k8s.namespace.name', str('shop')),
            kv('k8s.pod.name', str(`svc-${seed % 40}-5d8f7b9c4-${hex(5)}`)),
            kv('k8s.pod.uid', str(`${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`)),
            kv('k8s.node.name', str('node-bench')),
            kv('k8s.container.name', str('app')),
            kv('telemetry.sdk.name', str('opentelemetry')),
            kv('telemetry.sdk.language', str('nodejs')),
            kv('host.name', str(`svc-${seed % 40}-5d8f7b9c4`)),
          ],
        },
        scopeSpans: [
          {
            scope: { name: '@opentelemetry/instrumentation-http', version: '0.301.0' },
            spans: Array.from({ length: SPANS_PER_REQUEST }, (_, i) => {
              const start = t0 + BigInt(i) * 1_000_000n;
              const route = routes[i % routes.length]!;
              return {
                traceId: hex(32),
                spanId: hex(16),
                parentSpanId: i % 3 ? hex(16) : '',
                name: `GET ${route}`,
                kind: i % 2 ? 2 : 3,
                startTimeUnixNano: String(start),
                endTimeUnixNano: String(start + BigInt(300_000 + ((r() * 40_000_000) | 0))),
                attributes: [
                  kv('http.request.method', str('GET')),
                  kv('http.route', str(route)),
                  kv('url.path', str(route.replace('{id}', String((r() * 1e6) | 0)))),
                  kv('url.scheme', str('http')),
                  kv('http.response.status_code', { intValue: String(r() < 0.97 ? 200 : 503) }),
                  kv('server.address', str(`svc-${i % 40}.shop.svc.cluster.local`)),
                  kv('server.port', { intValue: '8080' }),
                  kv('network.peer.address', str(`10.244.${(r() * 250) | 0}.${(r() * 250) | 0}`)),
                  kv('network.peer.port', { intValue: String(30000 + ((r() * 30000) | 0)) }),
                  kv('user_agent.original', str('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36')),
                  kv('http.request.header.x-request-id', { arrayValue: { values: [str(hex(32))] } }),
                  kv('network.protocol.version', str('1.1')),
                ],
                events: i % 50 === 0 ? [{ timeUnixNano: String(start), name: 'exception', attributes: [] }] : [],
                status: {},
              };
            }),
          },
        ],
      },
    ],
  };
}

async function clientProcess(protocol: Protocol, port: number, requests: number): Promise<void> {
  const bodies = Array.from({ length: DISTINCT_BODIES }, (_, i) => {
    const json = requestJson(i + 1);
    return protocol === 'http-json' ? Buffer.from(JSON.stringify(json)) : Buffer.from(jsonToProtobuf(json));
  });
  const bytes = bodies.reduce((n, b) => n + b.length, 0) / bodies.length;
  let send: (body: Buffer) => Promise<void>;
  let close = () => {};
  if (protocol === 'grpc') {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': -1,
    });
    const identity = (b: Buffer) => b;
    send = (body) =>
      new Promise((resolve, reject) =>
        client.makeUnaryRequest(TRACE_EXPORT_PATH, identity, identity, body, (err) => (err ? reject(err) : resolve())),
      );
    close = () => client.close();
  } else {
    const agent = new HttpAgent({ keepAlive: true, maxSockets: IN_FLIGHT });
    const contentType = protocol === 'http-json' ? 'application/json' : 'application/x-protobuf';
    send = (body) =>
      new Promise((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port,
            path: '/v1/traces',
            method: 'POST',
            agent,
            headers: { 'content-type': contentType, 'content-length': String(body.length) },
          },
          (res) => {
            res.resume();
            res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    close = () => agent.destroy();
  }
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < requests) await send(bodies[next++ % bodies.length]!);
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  close();
  process.stdout.write(`${JSON.stringify({ seconds, request_bytes: Math.round(bytes) })}\n`);
}

// --- main ------------------------------------------------------------------------

function lines(child: ChildProcess): AsyncIterator<string> {
  return createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
}

async function runProtocol(protocol: Protocol, requests: number) {
  const self = fileURLToPath(import.meta.url);
  const agent = spawn(
    process.execPath,
    [
      ...(process.env.HOPTRACE_BENCH_PROFILE
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.HOPTRACE_BENCH_PROFILE}`]
        : []),
      '--expose-gc',
      self,
      '--agent',
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const out = lines(agent);
  const ports = JSON.parse((await out.next()).value as string) as { grpc: number; http: number };
  const port = protocol === 'grpc' ? ports.grpc : ports.http;
  const client = (n: number) =>
    JSON.parse(
      execFileSync(process.execPath, [self, '--client', protocol, String(port), String(n)], {
        encoding: 'utf8',
      }).trim(),
    ) as { seconds: number; request_bytes: number };
  // Warm-up (JIT, connections, the encoder worker's first batch). Its rows are
  // still buffered at the start mark and are encoded inside the measured window:
  // a bias under 2 % at full scale, against the receiver.
  client(WARMUP_REQUESTS);
  agent.stdin!.write('start\n');
  await out.next();
  const load = client(requests);
  agent.stdin!.write('stop\n');
  const report = JSON.parse((await out.next()).value as string) as AgentReport;
  agent.stdin!.end();
  const spans = requests * SPANS_PER_REQUEST;
  return {
    protocol,
    spans,
    request_kib: round(load.request_bytes / 1024, 1),
    client_seconds: round(load.seconds, 2),
    spans_per_s: Math.round(spans / report.seconds),
    cpu_us_per_span: round((report.cpu_seconds * 1e6) / spans, 2),
    spans_per_cpu_second: Math.round(spans / report.cpu_seconds),
    spooled: report.spans_spooled,
    files: report.files,
    peak_rss_mib: Math.round(report.peak_rss_mib),
    rss_increase_mib: Math.round(report.peak_rss_mib - report.rss_before_mib),
    drops: report.drops,
  };
}

const args = process.argv.slice(2);
if (args[0] === '--agent') await agentProcess();
else if (args[0] === '--client') await clientProcess(args[1] as Protocol, Number(args[2]), Number(args[3]));
else {
  const scale = Number(process.env.HOPTRACE_BENCH_SCALE ?? '1');
  const requests = Math.max(20, Math.round(REQUESTS * scale));
  console.log(
    `hoptrace ${AGENT_VERSION} OTLP receiver benchmark — ${cpus().length} × ${cpus()[0]?.model}, ${Math.round(totalmem() / 1024 ** 3)} GiB, node ${process.version}`,
  );
  console.log(
    `${requests} export requests × ${SPANS_PER_REQUEST} spans, ${IN_FLIGHT} in flight, from a separate client process → receiver → pipeline → Parquet (ZSTD) → fsynced spool\n`,
  );
  console.log('protocol        spans   req KiB   spans/s  cpu µs/span  spans/cpu-s  files  peak RSS MiB (Δ)');
  const results = [];
  for (const protocol of PROTOCOLS) {
    const r = await runProtocol(protocol, requests);
    if (r.spooled !== r.spans + WARMUP_REQUESTS * SPANS_PER_REQUEST || r.drops.length)
      throw new Error(`${protocol}: ${r.spooled} of ${r.spans} spans spooled, drops ${JSON.stringify(r.drops)}`);
    results.push(r);
    console.log(
      `${r.protocol.padEnd(14)} ${String(r.spans).padStart(6)} ${String(r.request_kib).padStart(9)} ${String(r.spans_per_s).padStart(9)} ${String(r.cpu_us_per_span).padStart(12)} ${String(r.spans_per_cpu_second).padStart(12)} ${String(r.files).padStart(6)} ${String(r.peak_rss_mib).padStart(8)} (${r.rss_increase_mib})`,
    );
  }
  if (process.env.HOPTRACE_BENCH_JSON)
    writeFileSync(process.env.HOPTRACE_BENCH_JSON, `${JSON.stringify(results, null, 2)}\n`);
}

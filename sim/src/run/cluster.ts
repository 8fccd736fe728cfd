// Runs a simulated cluster through the real pipeline: the simulator writes
// the nodes' inputs, a Kubernetes API test server holds the cluster's
// objects, one real agent process per node reads its node's files (container
// logs, the Hubble export file or Calico flow logs), watches the API server
// and receives its pods' spans over OTLP/HTTP, and lands Parquet — some
// nodes into a local directory, the others into an S3-compatible test
// server. Changes to the cluster and spans are delivered when the wall clock
// reaches their simulated time (the Kubernetes source stamps what its watch
// receives with the time it receives it), so the simulated time starts a few
// seconds after the call. Agent restarts planned by the simulator are done
// with SIGKILL and a new process on the same spool.
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { KubeApiServer } from '../../../test/support/kube-apiserver.ts';
import {
  createBucket,
  type MotoServer,
  startMotoServer,
  TEST_CREDENTIALS,
  TEST_REGION,
  testClient,
} from '../../../test/support/s3-server.ts';
import type { SimConfig } from '../config.ts';
import { createLiveFiles, loadNodeFiles, replayFiles } from '../feed/files.ts';
import { applyChange, type ChangeLine, changeTimeUs, feedKubernetes } from '../feed/kubernetes.ts';
import { type OtlpRequestLine, sendOtlp } from '../feed/otlp.ts';
import { type Manifest, simulate } from '../simulate.ts';

const REPO = resolve(import.meta.dirname, '..', '..', '..');
const AGENT = join(REPO, 'agent', 'bin', 'hoptrace.ts');
const PREFIX = 'hoptrace';
const BUCKET = 'hoptrace-landing';

export interface ClusterRunOptions {
  /** Working directory (replaced): sim/, agents/, landing/. */
  readonly dir: string;
  /** Simulation config; its start is replaced by now + lead. */
  readonly cfg: SimConfig;
  /** Seconds between the call and the simulated start (agents start meanwhile). */
  readonly leadS?: number;
  /** Land odd-numbered nodes in the S3-compatible test server (needs the Python environment with moto). */
  readonly s3?: boolean;
  /**
   * Append the nodes' container logs and flow files line by line when their lines fall due (`feed/files.ts`)
   * instead of handing the agents the finished files: the agents then tail growing files and land as on a real node.
   */
  readonly live?: boolean;
  readonly progress?: (message: string) => void;
}

export interface ClusterRunResult {
  readonly simDir: string;
  /** Landing directory laid out like the bucket (`<landing>/hoptrace/v1/…`), with every node's objects. */
  readonly landing: string;
  readonly manifest: Manifest;
  /** Nodes that landed in the S3-compatible server. */
  readonly s3Nodes: string[];
  readonly otlp: { requests: number; spans: number; rejectedSpans: number };
  readonly restarts: number;
  /** Processes whose exit code was not 0 (SIGKILLed restarts excluded). */
  readonly failedAgents: string[];
}

interface AgentProc {
  readonly node: string;
  readonly config: string;
  readonly port: number;
  proc: ChildProcess;
  exit: Promise<number | null>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

function readJsonl<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}

function agentConfig(
  node: string,
  dir: string,
  nodeRoot: string,
  cfg: SimConfig,
  kubeconfig: string,
  port: number,
  store: string,
): string {
  const flows =
    cfg.cni === 'cilium'
      ? `  - type: hubble-export
    include: ['${nodeRoot}/var/run/cilium/hubble/events.log']
    start_at: beginning`
      : `  - type: calico
    include: ['${nodeRoot}/var/log/calico/flowlogs/flows.log']
    start_at: beginning`;
  return `# Agent of simulated node ${node}.
node_name: ${node}
spool:
  dir: ${dir}/spool
${store}
batch:
  max_age: 2s
heartbeat:
  interval: 5s
server:
  enabled: false
log:
  level: warn
sources:
  - type: container-logs
    include: ['${nodeRoot}/var/log/pods/*/*/*.log', '${nodeRoot}/var/log/pods/*/*/*.log.*']
    start_at: beginning
${flows}
  - type: kubernetes
    kubeconfig: ${kubeconfig}
    lease: { namespace: hoptrace, duration: 4s, renew_deadline: 3s, retry_period: 500ms }
  - type: otlp
    grpc: { enabled: false }
    http: { host: 127.0.0.1, port: ${port} }
`;
}

function startAgent(a: Omit<AgentProc, 'proc' | 'exit'>, env: NodeJS.ProcessEnv, log: string): AgentProc {
  const proc = spawn(process.execPath, [AGENT, 'run', '--config', a.config], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  proc.stderr?.on('data', (d: Buffer) => writeFileSync(log, d, { flag: 'a' }));
  const exit = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { ...a, proc, exit };
}

async function freePorts(n: number): Promise<number[]> {
  const { createServer } = await import('node:net');
  const ports: number[] = [];
  for (let i = 0; i < n; i++)
    ports.push(
      await new Promise<number>((res) => {
        const s = createServer();
        s.listen(0, '127.0.0.1', () => {
          const p = (s.address() as { port: number }).port;
          s.close(() => res(p));
        });
      }),
    );
  return ports;
}

export async function runCluster(opts: ClusterRunOptions): Promise<ClusterRunResult> {
  const say = opts.progress ?? (() => {});
  const dir = resolve(opts.dir);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const leadS = opts.leadS ?? 15;
  const startMs = Math.ceil(Date.now() / 1000) * 1000 + leadS * 1000;
  const cfg: SimConfig = { ...opts.cfg, startUs: startMs * 1000 };
  const simDir = join(dir, 'sim');
  const manifest = simulate(cfg, simDir);
  say(
    `simulated ${manifest.nodes.length} nodes, ${manifest.counts.pods} pods, ${manifest.counts.requests} requests ` +
      `(${cfg.durationS}s from ${manifest.start})`,
  );

  const changes = readJsonl<ChangeLine>(join(simDir, 'cluster/changes.jsonl'));
  const api = await KubeApiServer.start();
  for (const c of changes) if (changeTimeUs(c) < cfg.startUs) applyChange(api, c);
  const during = changes.filter((c) => changeTimeUs(c) >= cfg.startUs);
  const kubeconfig = api.writeKubeconfig(join(dir, 'kubeconfig'));

  let moto: MotoServer | undefined;
  const s3Nodes: string[] = [];
  if (opts.s3) {
    moto = await startMotoServer();
    await createBucket(moto.endpoint, BUCKET);
  }
  const landing = join(dir, 'landing');
  const env = {
    ...process.env,
    AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
    AWS_REGION: TEST_REGION,
  };
  const ports = await freePorts(manifest.nodes.length);
  const live = manifest.nodes.map((n) => {
    if (!opts.live) return undefined;
    const root = join(dir, 'live', n.name);
    const files = loadNodeFiles(join(simDir, n.root), n.skew_us);
    createLiveFiles(files, root);
    return { root, files };
  });
  const agents: AgentProc[] = manifest.nodes.map((n, i) => {
    const adir = join(dir, 'agents', n.name);
    mkdirSync(adir, { recursive: true });
    const toS3 = moto !== undefined && i % 2 === 1;
    if (toS3) s3Nodes.push(n.name);
    const store = toS3
      ? `store:\n  type: s3\n  bucket: ${BUCKET}\n  prefix: ${PREFIX}\n  endpoint: ${moto!.endpoint}\n  region: ${TEST_REGION}`
      : `store:\n  type: local\n  dir: ${landing}\n  prefix: ${PREFIX}`;
    const config = join(adir, 'hoptrace.yaml');
    const nodeRoot = live[i]?.root ?? join(simDir, n.root);
    writeFileSync(config, agentConfig(n.name, adir, nodeRoot, cfg, kubeconfig, ports[i]!, store));
    return startAgent({ node: n.name, config, port: ports[i]! }, env, join(adir, 'agent.log'));
  });
  say(`started ${agents.length} agents (${s3Nodes.length ? `${s3Nodes.join(', ')} land in S3` : 'local landing'})`);

  const failed: string[] = [];
  const killed = new Set<AgentProc>();
  let restarts = 0;
  const abort = new AbortController();
  try {
    const pace = (us: number) => us / 1000;
    const sends = manifest.nodes.map(async (n, i) => {
      const lines = readJsonl<OtlpRequestLine>(join(simDir, n.root, 'otlp/requests.jsonl'));
      const total = { requests: 0, spans: 0, rejectedSpans: 0 };
      for (const line of lines) {
        await sleep(pace(Date.parse(line.sent_at) * 1000) - Date.now());
        const r = await sendOtlp(`http://127.0.0.1:${agents[i]!.port}`, [line], { maxRetries: 60 });
        total.requests += r.requests;
        total.spans += r.spans;
        total.rejectedSpans += r.rejectedSpans;
      }
      return total;
    });
    const restartsDone = manifest.faults.agent_restarts.map(async (r) => {
      await sleep(Date.parse(r.at) - Date.now());
      const i = agents.findIndex((a) => a.node === r.node);
      const old = agents[i]!;
      killed.add(old);
      old.proc.kill('SIGKILL');
      await old.exit;
      agents[i] = startAgent(old, env, join(dir, 'agents', old.node, 'agent.log'));
      restarts++;
      say(`restarted the agent of ${r.node} (SIGKILL)`);
    });
    const ticker = setInterval(() => {
      const left = Math.round((Date.parse(manifest.end) - Date.now()) / 1000);
      if (left > 0) say(`traffic: ${left}s of simulated time left`);
    }, 15_000);
    ticker.unref();
    const [, ...rest] = await Promise.all([
      feedKubernetes(api, during, { pace, signal: abort.signal }),
      Promise.all(sends),
      Promise.all(restartsDone),
      Promise.all(
        live.map((l) => (l ? replayFiles(l.files, l.root, { sinceMs: startMs, signal: abort.signal }) : undefined)),
      ),
    ]);
    clearInterval(ticker);
    const otlp = (rest[0] as { requests: number; spans: number; rejectedSpans: number }[]).reduce(
      (a, b) => ({
        requests: a.requests + b.requests,
        spans: a.spans + b.spans,
        rejectedSpans: a.rejectedSpans + b.rejectedSpans,
      }),
      { requests: 0, spans: 0, rejectedSpans: 0 },
    );
    // Heartbeats past the end, then a graceful stop (agents flush and upload).
    await sleep(Date.parse(manifest.end) + 8000 - Date.now());
    say('stopping the agents (SIGTERM: flush and land)');
    for (const a of agents) a.proc.kill('SIGTERM');
    for (const a of agents) if ((await a.exit) !== 0) failed.push(a.node);

    if (moto) {
      const client = testClient(moto.endpoint);
      let token: string | undefined;
      let n = 0;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, ContinuationToken: token }));
        for (const o of page.Contents ?? []) {
          const obj = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: o.Key! }));
          const path = join(landing, o.Key!);
          mkdirSync(dirname(path), { recursive: true });
          writeFileSync(path, await obj.Body!.transformToByteArray());
          n++;
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      client.destroy();
      say(`copied ${n} objects from the S3-compatible server into ${landing}`);
    }
    // Schema drift: the Parquet of a newer agent lands next to the others.
    if (manifest.faults.drift.length) {
      cpSync(join(simDir, 'drift', 'landing'), landing, { recursive: true });
      say(
        `added the Parquet of a newer agent on ${manifest.faults.drift.map((d) => d.node).join(', ')} (schema drift)`,
      );
    }
    // The load balancers' access logs: AWS delivers them to their own prefix (every file is
    // due by the time the lakehouse runs, 20 minutes after the end).
    if (manifest.alb.files.length) {
      cpSync(join(simDir, 'alb'), join(landing, 'alb'), { recursive: true });
      say(`added ${manifest.alb.files.length} ALB access-log files under ${join(landing, 'alb')}`);
    }
    return { simDir, landing, manifest, s3Nodes, otlp, restarts, failedAgents: failed };
  } finally {
    abort.abort();
    for (const a of agents) if (!killed.has(a) && a.proc.exitCode === null) a.proc.kill('SIGKILL');
    // The test servers' processes and sockets are unreferenced: keep the loop alive while they close.
    const keepAlive = setInterval(() => {}, 1000);
    await api.close();
    await moto?.stop();
    clearInterval(keepAlive);
  }
}

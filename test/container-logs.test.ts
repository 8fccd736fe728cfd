// The container-logs source end to end, in real agent processes: container
// log files rotated by rename (the kubelet's way) and by copytruncate while
// the agent follows them, and agents killed at arbitrary points and
// restarted while files were rotated behind their back. Every line written
// must land exactly once — by record id and by request id — read back from
// the landed Parquet with pyarrow.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  copyFileSync,
  existsSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { stringify } from 'yaml';
import {
  criLines,
  ENVOY,
  INGRESS_POD,
  NGINX,
  type PodFile,
  podLogPath,
  SIDECAR_POD,
  writePodLog,
} from '../agent/src/sources/container-logs/testdata/fixtures.ts';
import { until } from './support/agent.ts';
import { runPython } from './support/python.ts';
import { tempDir } from './support/tmp.ts';

interface Landed {
  rows: number;
  record_ids: string[];
  request_ids: string[];
  roles: Record<string, number>;
}

function readRequests(root: string): Promise<Landed> {
  return runPython<Landed>(
    `
import json, os, sys
import pyarrow.parquet as pq
out = {'rows': 0, 'record_ids': [], 'request_ids': [], 'roles': {}}
for d, _, files in os.walk(sys.argv[1]):
    for f in files:
        if not f.endswith('.parquet') or '/http_requests/' not in os.path.join(d, f):
            continue
        t = pq.read_table(os.path.join(d, f), columns=['record_id', 'request_id', 'role'])
        out['rows'] += t.num_rows
        out['record_ids'] += t.column('record_id').to_pylist()
        out['request_ids'] += t.column('request_id').to_pylist()
        for r in t.column('role').to_pylist():
            out['roles'][r] = out['roles'].get(r, 0) + 1
print(json.dumps(out))
`,
    [root],
  );
}

/** Lines with a unique request id each: nginx for the ingress, Envoy for the sidecar. */
const nginxLine = (id: string) => NGINX.upstreaminfo.replace('7f3c2a9b4d5e6f708192a3b4c5d6e7f8', id);
const envoyLine = (id: string, inbound: boolean) =>
  (inbound ? ENVOY.inbound : ENVOY.outbound).replace('0b7c8f1e-4a2b-9c3d-8e7f-1a2b3c4d5e6f', id);

/** A container writing access lines the way a runtime does, numbering its request ids. */
class Container {
  readonly path: string;
  private next = 0;
  private rotations = 0;
  readonly written: string[] = [];
  readonly pod: PodFile;
  readonly kind: 'nginx' | 'envoy';

  constructor(root: string, pod: PodFile, kind: 'nginx' | 'envoy') {
    this.pod = pod;
    this.kind = kind;
    this.path = podLogPath(root, pod);
    writePodLog(root, pod, '');
  }

  lines(n: number): string {
    const ids = Array.from({ length: n }, () => `${this.pod.container}-${String(this.next++).padStart(6, '0')}`);
    this.written.push(...ids);
    const text = ids.map((id, i) => (this.kind === 'nginx' ? nginxLine(id) : envoyLine(id, i % 2 === 0)));
    // Some lines are long enough to be split into partial records.
    return criLines(text, this.next % 3 === 0 ? 120 : 0, this.next);
  }

  write(n: number): void {
    appendFileSync(this.path, this.lines(n));
  }

  /** The kubelet's rotation: rename, the runtime reopens; a few lines still reach the old file. */
  rotate(late = 10): string {
    const rotated = `${this.path}.20261125-07${String(this.rotations++).padStart(4, '0')}`;
    const fd = openSync(this.path, 'a');
    renameSync(this.path, rotated);
    writeFileSync(this.path, '');
    writeSync(fd, this.lines(late));
    closeSync(fd);
    return rotated;
  }

  /** logrotate's copytruncate: older copies shift (`.1` → `.2`), then copy and truncate. */
  copytruncate(): void {
    if (existsSync(`${this.path}.1`)) renameSync(`${this.path}.1`, `${this.path}.2`);
    copyFileSync(this.path, `${this.path}.1`);
    truncateSync(this.path, 0);
  }
}

function agentConfig(dir: string, extra: Record<string, unknown> = {}): string {
  const config = join(dir, 'hoptrace.yaml');
  writeFileSync(
    config,
    stringify({
      node_name: 'node-logs',
      spool: { dir: 'spool' },
      store: { type: 'local', dir: 'landing', prefix: 'hoptrace' },
      batch: { max_age: '300ms', max_rows: 500 },
      upload: { backoff_initial: '100ms', backoff_max: '1s' },
      server: { enabled: false },
      log: { level: 'warn' },
      heartbeat: { interval: '1h' },
      shutdown: { grace: '20s' },
      sources: [
        {
          type: 'container-logs',
          include: ['pods/*/*/*.log', 'pods/*/*/*.log.*'],
          start_at: 'beginning',
          poll_interval: '50ms',
          discover_interval: '200ms',
          rotate_wait: '1s',
          ...extra,
        },
      ],
    }),
  );
  return config;
}

interface Agent {
  readonly child: ChildProcess;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function startAgent(config: string, command: 'run' | 'drain', env: Record<string, string> = {}): Agent {
  const child = spawn(process.execPath, ['agent/bin/hoptrace.ts', command, '--config', config], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stdout!.on('data', (d) => {
    stderr += d;
  });
  child.stderr!.on('data', (d) => {
    stderr += d;
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, exit };
}

/** Polls the landing directory until `n` request rows are there. */
async function landedAtLeast(dir: string, n: number, agent?: Agent): Promise<Landed> {
  let landed: Landed = { rows: 0, record_ids: [], request_ids: [], roles: {} };
  const limitMs = Number(process.env.HOPTRACE_TEST_LANDING_LIMIT_MS ?? 120_000);
  let exited = false;
  void agent?.exit.then(() => {
    exited = true;
  });
  let polling = false;
  const started = Date.now();
  while (landed.rows < n) {
    if (exited) throw new Error(`agent exited early: ${(await agent!.exit).stderr}`);
    if (Date.now() - started > limitMs) throw new Error(`gave up waiting for ${n} rows (have ${landed.rows})`);
    if (!polling) {
      polling = true;
      landed = await readRequests(join(dir, 'landing'));
      polling = false;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return landed;
}

/** The committed checkpoint of a file, from the spool state. */
function committedOffset(dir: string, path: string): number | undefined {
  const statePath = join(dir, 'spool', 'spool-state.json');
  if (!existsSync(statePath)) return undefined;
  const { dev, ino } = statSync(path);
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as {
    checkpoints: Record<string, { files: Record<string, { o: number }> }>;
  };
  return state.checkpoints['tail:container-logs']?.files[`${dev}:${ino}`]?.o;
}

function assertExactlyOnce(landed: Landed, containers: readonly Container[], context: string): void {
  const expected = containers.flatMap((c) => c.written);
  const ids = new Set(landed.record_ids);
  assert.equal(ids.size, landed.rows, `no row landed twice (${landed.rows} rows, ${ids.size} ids) ${context}`);
  const requests = new Set(landed.request_ids);
  const missing = expected.filter((id) => !requests.has(id));
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} lines never landed ${context}`);
  assert.equal(landed.rows, expected.length, `one row per line written ${context}`);
}

test('rotation while the agent runs: rename, late writes, copytruncate and deletion lose and repeat nothing', async () => {
  const dir = tempDir();
  const pods = join(dir, 'pods');
  const ingress = new Container(pods, INGRESS_POD, 'nginx');
  const sidecar = new Container(pods, SIDECAR_POD, 'envoy');
  const agent = startAgent(agentConfig(dir), 'run');
  const rotated: string[] = [];
  let total = 0;
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 6; i++) {
      ingress.write(50);
      sidecar.write(50);
      await new Promise((r) => setTimeout(r, 15));
    }
    rotated.push(sidecar.rotate());
    if (round % 2 === 1) ingress.copytruncate();
    total = ingress.written.length + sidecar.written.length;
    // The kubelet compresses older rotations, removing the plain file; it does so long after the
    // agent finished it, which here is made sure of through the agent's own committed checkpoint.
    if (rotated.length > 2) {
      const old = rotated.shift()!;
      await until(() => committedOffset(dir, old) === statSync(old).size, `${old} committed`, 60_000);
      rmSync(old);
    }
  }
  let landed: Landed;
  try {
    landed = await landedAtLeast(dir, total, agent);
  } catch (err) {
    agent.child.kill('SIGKILL');
    const got = new Set((await readRequests(join(dir, 'landing'))).request_ids);
    const missing = [...ingress.written, ...sidecar.written].filter((id) => !got.has(id));
    throw new Error(
      `${(err as Error).message}; missing ${missing.length}: ${missing.slice(0, 20).join(' ')}…${missing.slice(-5).join(' ')} dir ${dir}`,
    );
  }
  agent.child.kill('SIGTERM');
  const exit = await agent.exit;
  assert.equal(exit.code, 0, exit.stderr);
  assertExactlyOnce(await readRequests(join(dir, 'landing')), [ingress, sidecar], exit.stderr);
  assert.ok(landed.roles.ingress && landed.roles.sidecar_inbound && landed.roles.sidecar_outbound);
  // The copytruncate copies are still there; their lines were not read a second time.
  assert.ok(existsSync(`${ingress.path}.1`));
});

test('killed at any point and restarted, with rotations while it was down: every line lands exactly once', async () => {
  const dir = tempDir();
  const pods = join(dir, 'pods');
  const ingress = new Container(pods, INGRESS_POD, 'nginx');
  const sidecar = new Container(pods, SIDECAR_POD, 'envoy');
  // Small reads, so there are many emissions and spool commits to be killed between.
  const config = agentConfig(dir, { read_budget: '32KiB', read_buffer_size: '16KiB' });
  ingress.write(1200);
  sidecar.write(1200);

  const first = startAgent(config, 'drain', { HOPTRACE_FAULT_KILL_AT: 'after-spool-commit:3' });
  assert.equal((await first.exit).signal, 'SIGKILL', (await first.exit).stderr);

  // While it is down: more lines, a rename rotation, a copytruncate.
  sidecar.write(200);
  sidecar.rotate(30);
  sidecar.write(300);
  ingress.write(100);
  ingress.copytruncate();
  ingress.write(150);
  const second = startAgent(config, 'drain', { HOPTRACE_FAULT_KILL_AT: 'after-spool-commit:4' });
  assert.equal((await second.exit).signal, 'SIGKILL', (await second.exit).stderr);

  // Killed from outside while following, at whatever point it has reached.
  const third = startAgent(config, 'run');
  await landedAtLeast(dir, 1000, third);
  sidecar.write(100);
  ingress.write(100);
  third.child.kill('SIGKILL');
  assert.equal((await third.exit).signal, 'SIGKILL');

  sidecar.write(50);
  const last = startAgent(config, 'drain');
  const exit = await last.exit;
  assert.equal(exit.code, 0, exit.stderr);
  assertExactlyOnce(await readRequests(join(dir, 'landing')), [ingress, sidecar], exit.stderr);
});

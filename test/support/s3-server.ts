// A real S3-compatible server (moto) on loopback for store tests. Each server
// is a child process on its own port; restart() keeps the port so a client
// configured with the endpoint can reconnect. moto keeps no state across a
// restart: recreate buckets afterwards.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { CreateBucketCommand, PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';

const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');

export const TEST_REGION = 'us-east-1';
export const TEST_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' } as const;

export interface MotoServer {
  readonly endpoint: string;
  readonly port: number;
  /** Kills the server; idempotent. */
  stop(): Promise<void>;
  /** Kills the server and starts a fresh one on the same port (all state is lost). */
  restart(): Promise<void>;
  /** Freezes the process (SIGSTOP): connections are accepted by the kernel but never answered. */
  pause(): void;
  resume(): void;
}

export interface MotoOptions {
  /** Extra environment for moto, e.g. `S3_UPLOAD_PART_MIN_SIZE`. */
  readonly env?: Record<string, string>;
  readonly startTimeoutMs?: number;
}

// Started through a tiny bootstrap rather than `-m moto.server` directly so the
// server exits by itself if this process dies without running exit handlers:
// a watchdog thread notices the parent is gone, and for a paused (stopped)
// server, its own process group in our session becomes orphaned when we die,
// so the kernel sends it SIGHUP + SIGCONT.
const BOOTSTRAP = `
import os, runpy, sys, threading, time
os.setpgid(0, 0)
parent = os.getppid()
def watch():
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
runpy.run_module('moto.server', run_name='__main__', alter_sys=True)
`;

export function pythonPath(): string {
  return process.env.HOPTRACE_PYTHON ?? path.join(REPO_ROOT, '.venv', 'bin', 'python');
}

export async function startMotoServer(options: MotoOptions = {}): Promise<MotoServer> {
  const python = pythonPath();
  if (!existsSync(python)) {
    throw new Error(`moto server: no Python at ${python} (set HOPTRACE_PYTHON or run \`make pyenv\`)`);
  }
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  let child: ChildProcess | undefined = await launch(python, port, options.env ?? {}, timeoutMs);

  const killNow = (): void => {
    child?.kill('SIGKILL');
  };
  process.on('exit', killNow);

  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (c) await kill(c);
  };

  return {
    endpoint,
    port,
    stop: async () => {
      await stop();
      process.off('exit', killNow);
    },
    restart: async () => {
      await stop();
      child = await launch(python, port, options.env ?? {}, timeoutMs);
    },
    pause: () => {
      child?.kill('SIGSTOP');
    },
    resume: () => {
      child?.kill('SIGCONT');
    },
  };
}

async function launch(python: string, port: number, env: Record<string, string>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  // The old listener's port can linger for a moment after a kill; try again briefly.
  for (let attempt = 1; ; attempt++) {
    const child = spawn(python, ['-c', BOOTSTRAP, '-H', '127.0.0.1', '-p', String(port)], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env, PYTHONUNBUFFERED: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // moto logs every request; the pipes must be drained or it blocks.
    const output = tail(child);
    // A test that forgets stop() must not hang its process: the exit hook kills the server.
    child.unref();
    for (const stream of [child.stdout, child.stderr]) (stream as net.Socket | null)?.unref();
    try {
      await waitUntilServing(child, port, deadline);
      return child;
    } catch (err) {
      await kill(child);
      const log = output();
      if (/No module named ['"]?moto/.test(log)) {
        throw new Error(`moto server: moto is not installed for ${python} (run \`make pyenv\`)\n${log}`);
      }
      if (/Address already in use/i.test(log) && attempt < 20 && Date.now() < deadline) {
        await sleep(250);
        continue;
      }
      throw new Error(`moto server on port ${port} did not start: ${(err as Error).message}\n${log}`);
    }
  }
}

async function waitUntilServing(child: ChildProcess, port: number, deadline: number): Promise<void> {
  let exit: string | undefined;
  child.once('exit', (code, signal) => {
    exit = `exited with ${signal ?? code}`;
  });
  child.once('error', (err) => {
    exit = `failed to spawn: ${err.message}`;
  });
  while (Date.now() < deadline) {
    if (exit) throw new Error(exit);
    if (await answers(port)) return;
    await sleep(100);
  }
  throw new Error('timed out waiting for HTTP');
}

/** Any HTTP response counts: moto is up once it speaks HTTP. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 1_000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    // SIGKILL also ends a paused process; moto has nothing to flush.
    child.kill('SIGKILL');
  });
}

function tail(child: ChildProcess, limit = 16 * 1024): () => string {
  let buf = '';
  const keep = (chunk: Buffer): void => {
    buf = (buf + chunk.toString('utf8')).slice(-limit);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => buf;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A plain SDK client for setting up and inspecting the server in tests. */
export function testClient(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: TEST_REGION,
    credentials: TEST_CREDENTIALS,
    forcePathStyle: true,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: 2_000, requestTimeout: 10_000, throwOnRequestTimeout: true },
  });
}

export async function createBucket(
  endpoint: string,
  bucket: string,
  opts: { versioning?: boolean } = {},
): Promise<void> {
  const client = testClient(endpoint);
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    if (opts.versioning) {
      await client.send(
        new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
      );
    }
  } finally {
    client.destroy();
  }
}

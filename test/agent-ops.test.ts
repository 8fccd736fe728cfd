// Operating the agent: health and metrics endpoints, graceful SIGTERM,
// an unreachable store, and what the heartbeat tells the lakehouse.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { Agent } from '../agent/src/agent.ts';
import { silentLogger } from '../agent/src/ops/logger.ts';
import { readLanded, testConfig, until } from './support/agent.ts';
import { runPython } from './support/python.ts';
import { flowLines } from './support/records.ts';
import { tempDir } from './support/tmp.ts';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

async function get(url: string): Promise<{ status: number; text: string }> {
  try {
    const res = await fetch(url);
    return { status: res.status, text: await res.text() };
  } catch {
    return { status: 0, text: '' };
  }
}

test('run: /healthz, /readyz and /metrics answer; SIGTERM drains everything and exits 0', async () => {
  const dir = tempDir();
  const port = await freePort();
  writeFileSync(join(dir, 'flows.ndjson'), flowLines(3000));
  writeFileSync(
    join(dir, 'hoptrace.yaml'),
    stringify({
      node_name: 'node-ops',
      spool: { dir: 'spool' },
      store: { type: 'local', dir: 'landing' },
      batch: { max_age: '1h' },
      server: { host: '127.0.0.1', port },
      log: { level: 'warn' },
      sources: [{ type: 'replay', name: 'replay', paths: ['flows.ndjson'] }],
    }),
  );
  const child = spawn(process.execPath, ['agent/bin/hoptrace.ts', 'run', '--config', join(dir, 'hoptrace.yaml')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    let ready = { status: 0, text: '' };
    for (let i = 0; i < 600 && ready.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      ready = await get(`http://127.0.0.1:${port}/readyz`);
    }
    assert.equal(ready.status, 200, `not ready: ${ready.text} ${stderr}`);
    assert.equal((await get(`http://127.0.0.1:${port}/healthz`)).status, 200);
    let metrics = '';
    for (let i = 0; i < 600 && !/hoptrace_records_in_total\{table="flows",source="replay"\} 3000/.test(metrics); i++) {
      await new Promise((r) => setTimeout(r, 50));
      metrics = (await get(`http://127.0.0.1:${port}/metrics`)).text;
    }
    assert.match(metrics, /hoptrace_records_in_total\{table="flows",source="replay"\} 3000/);
    assert.match(metrics, /hoptrace_build_info\{version="0\.1\.0"/);
    assert.match(metrics, /# TYPE hoptrace_upload_duration_seconds histogram/);
    assert.match(metrics, /nodejs_eventloop_lag_seconds/);
    // With max_age 1h nothing has rolled yet: SIGTERM must flush, spool and upload it.
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
  } finally {
    child.kill('SIGKILL');
  }
  const landed = await readLanded(join(dir, 'landing'));
  assert.equal(landed.tables.flows?.rows, 3000);
  assert.equal(landed.tables.agent_heartbeats?.rows, 1, 'the final heartbeat landed too');
});

test('an unreachable S3 endpoint: uploads retry with a metric, the agent keeps running, files stay spooled', async () => {
  const dir = tempDir();
  const deadPort = await freePort();
  writeFileSync(join(dir, 'flows.ndjson'), flowLines(100));
  const config = testConfig(dir, {
    store: {
      type: 's3',
      bucket: 'landing',
      endpoint: `http://127.0.0.1:${deadPort}`,
      max_attempts: 1,
      connect_timeout: '200ms',
      request_timeout: '1s',
    },
    batch: { max_rows: 50 },
    upload: { backoff_initial: '50ms', backoff_max: '200ms' },
    sources: [{ type: 'replay', name: 'replay', paths: [join(dir, 'flows.ndjson')] }],
  });
  process.env.AWS_ACCESS_KEY_ID ??= 'testing';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';
  const agent = new Agent(config, { logger: silentLogger });
  await agent.start('follow');
  const failures = () =>
    agent.metrics.uploads.get().then((m) => m.values.filter((v) => v.labels.result === 'retryable_error'));
  let retried = 0;
  // One emission of 100 lines rolls into one file.
  await until(() => agent.status().spoolFiles === 1, 'the file spooled');
  for (let i = 0; i < 200 && retried < 3; i++) {
    await new Promise((r) => setTimeout(r, 25));
    retried = (await failures()).reduce((n, v) => n + v.value, 0);
  }
  assert.ok(retried >= 3, `upload failures were counted and retried (${retried})`);
  assert.equal(agent.status().uploadsFailing, true);
  assert.equal(agent.status().state, 'running');
  await agent.stop(100);
  // The flows file and the final heartbeat both wait for the next start.
  assert.equal(agent.status().spoolFiles, 2, 'nothing was dropped');
});

test('a spool that cannot be written: not ready, writes retried and counted, ready again once it can', async () => {
  const dir = tempDir();
  const port = await freePort();
  writeFileSync(join(dir, 'flows.ndjson'), flowLines(120));
  const config = testConfig(dir, {
    server: { host: '127.0.0.1', port },
    batch: { max_age: '1s' },
    sources: [{ type: 'replay', name: 'replay', paths: [join(dir, 'flows.ndjson')] }],
  });
  const agent = new Agent(config, { logger: silentLogger });
  await agent.start('follow');
  // The rows wait in an open batch for a second: take the spool's file directory away first.
  const ready = join(dir, 'spool', 'ready');
  rmSync(ready, { recursive: true });
  try {
    await until(() => agent.status().spoolWritesFailing, 'a spool write failed');
    const notReady = await get(`http://127.0.0.1:${port}/readyz`);
    assert.equal(notReady.status, 503);
    assert.match(notReady.text, /spool writes failing/);
    const writeErrors = (await agent.metrics.spoolErrors.get()).values.find((v) => v.labels.stage === 'write');
    assert.ok((writeErrors?.value ?? 0) >= 1, 'the failed write is counted');
    assert.equal(agent.status().state, 'running');
    mkdirSync(ready);
    await until(() => !agent.status().spoolWritesFailing, 'the retried write succeeded');
    assert.equal((await get(`http://127.0.0.1:${port}/readyz`)).status, 200);
  } finally {
    // Writes are retried until they succeed, also while stopping: give them their directory back.
    mkdirSync(ready, { recursive: true });
    await agent.stop(5000);
  }
  const landed = await readLanded(join(dir, 'landing'));
  assert.equal(landed.tables.flows?.rows, 120, 'every row landed, once');
  assert.equal(new Set(landed.tables.flows?.record_ids).size, 120);
});

test('the heartbeat lands with per-table sequence, flushed-through time and drop counts', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'in.ndjson'), `${flowLines(120)}not json\n{"table":"flows","row":{"verdict":"FORWARDED"}}\n`);
  const config = testConfig(dir, {
    batch: { max_rows: 50 },
    sources: [{ type: 'replay', name: 'replay', paths: [join(dir, 'in.ndjson')] }],
  });
  const agent = new Agent(config, { logger: silentLogger });
  await agent.start('drain');
  await agent.drain();
  const landed = await readLanded(join(dir, 'landing'));
  assert.equal(landed.tables.flows?.rows, 120);
  const hb = await runPython<Record<string, unknown>[]>(
    `
import json, sys, glob
import pyarrow.parquet as pq
files = glob.glob(sys.argv[1] + '/**/agent_heartbeats/**/*.parquet', recursive=True)
rows = pq.read_table(files[0]).to_pylist()
print(json.dumps(rows, default=str))
`,
    [join(dir, 'landing')],
  );
  assert.equal(hb.length, 1);
  const beat = hb[0] as {
    node: string;
    epoch: string;
    tables: {
      table: string;
      last_seq: number;
      records_spooled: number;
      records_buffered: number;
      flushed_through: string;
    }[];
    drops: { table: string; source: string; reason: string; count: number }[];
  };
  assert.equal(beat.node, 'node-a');
  assert.match(beat.epoch, /^\d{13}$/);
  const flows = beat.tables.find((t) => t.table === 'flows')!;
  // 120 rows in emissions of up to 1000 lines: one emission, one file.
  assert.equal(flows.last_seq, 1);
  assert.equal(flows.records_spooled, 120);
  assert.equal(flows.records_buffered, 0);
  assert.ok(flows.flushed_through, 'flushed_through is set');
  assert.deepEqual(
    beat.drops.map((d) => [d.table, d.source, d.reason, d.count]),
    [
      ['flows', 'replay', 'invalid_record', 1],
      ['unknown', 'replay', 'invalid_json', 1],
    ],
  );
});

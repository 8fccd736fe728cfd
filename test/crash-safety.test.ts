// Crash safety on real parts: agent child processes SIGKILLed between spool
// and upload, and between upload and spool cleanup, landing into a real
// S3-compatible server with versioning on. Afterwards every record is in the
// bucket exactly once, and no key ever received different bytes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { GetObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { stringify } from 'yaml';
import { readLanded } from './support/agent.ts';
import { flowLines } from './support/records.ts';
import { createBucket, type MotoServer, startMotoServer, TEST_CREDENTIALS, testClient } from './support/s3-server.ts';
import { tempDir } from './support/tmp.ts';

let moto: MotoServer;
before(async () => {
  moto = await startMotoServer();
});
after(async () => {
  await moto?.stop();
});

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stdout: string;
}

function runAgent(config: string, env: Record<string, string> = {}): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['agent/bin/hoptrace.ts', 'drain', '--config', config], {
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
        AWS_REGION: 'us-east-1',
        AWS_EC2_METADATA_DISABLED: 'true',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stderr, stdout }));
  });
}

test('SIGKILL after spool commit and after upload: every record lands exactly once, keys never change bytes', async () => {
  const dir = tempDir();
  const bucket = 'crash-test';
  await createBucket(moto.endpoint, bucket, { versioning: true });
  const total = 6000;
  writeFileSync(join(dir, 'flows.ndjson'), flowLines(total));
  const config = join(dir, 'hoptrace.yaml');
  writeFileSync(
    config,
    stringify({
      node_name: 'node-crash',
      spool: { dir: 'spool' },
      store: { type: 's3', bucket, prefix: 'hoptrace', endpoint: moto.endpoint },
      batch: { max_rows: 1000 },
      upload: { concurrency: 1, backoff_initial: '100ms', backoff_max: '1s' },
      server: { enabled: false },
      log: { level: 'warn' },
      heartbeat: { interval: '1h' },
      sources: [{ type: 'replay', name: 'replay', paths: ['flows.ndjson'] }],
    }),
  );

  const first = await runAgent(config, { HOPTRACE_FAULT_KILL_AT: 'after-spool-commit:3' });
  assert.equal(first.signal, 'SIGKILL', `first run should die at the crash point: ${first.stderr}`);
  const second = await runAgent(config, { HOPTRACE_FAULT_KILL_AT: 'after-upload:2' });
  assert.equal(second.signal, 'SIGKILL', `second run should die at the crash point: ${second.stderr}`);
  const third = await runAgent(config);
  assert.equal(third.code, 0, third.stderr);

  const s3 = testClient(moto.endpoint);
  const versions = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket }));
  const etags = new Map<string, Set<string>>();
  for (const v of versions.Versions ?? []) {
    const set = etags.get(v.Key!) ?? new Set();
    set.add(v.ETag!);
    etags.set(v.Key!, set);
  }
  for (const [key, set] of etags) assert.equal(set.size, 1, `${key} received different bytes`);
  const rewritten = [...(versions.Versions ?? [])].filter((v) => !v.IsLatest).length;
  assert.ok(rewritten >= 1, 'the upload interrupted before cleanup was retried onto the same key');

  // Download the latest objects and count records with an independent reader.
  const landing = join(dir, 'downloaded');
  for (const key of etags.keys()) {
    const body = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray();
    mkdirSync(dirname(join(landing, key)), { recursive: true });
    writeFileSync(join(landing, key), body);
  }
  s3.destroy();
  const landed = await readLanded(landing);
  const ids = landed.tables.flows!.record_ids;
  const unique = new Set(ids).size;
  assert.equal(
    unique,
    total,
    `no record lost (${unique} distinct of ${total}; runs:\n${first.stderr}\n${second.stderr}\n${third.stderr})`,
  );
  assert.equal(ids.length, total, `no record landed twice (${ids.length} rows for ${unique} records)`);
  const seqs = landed.keys
    .filter((k) => k.includes('/flows/'))
    .map((k) => Number(/-(\d{12})\.parquet$/.exec(k)![1]))
    .sort((a, b) => a - b);
  assert.deepEqual(
    seqs,
    seqs.map((_, i) => i + 1),
    'sequence numbers have no holes',
  );
});

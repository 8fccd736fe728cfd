// Configuration: defaults, units, env expansion, and errors that name the key.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, parseConfig } from '../agent/src/config/load.ts';
import { tempDir } from './support/tmp.ts';

const minimal = `
spool: { dir: /var/lib/hoptrace }
store: { type: local, dir: /tmp/landing }
`;

function problemsOf(yaml: string, env: NodeJS.ProcessEnv = { NODE_NAME: 'node-a' }): readonly string[] {
  try {
    parseConfig(yaml, '/etc/hoptrace/config.yaml', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

test('defaults fill a minimal file; units become milliseconds and bytes; node name comes from the downward API', () => {
  const c = parseConfig(minimal, '/etc/hoptrace/config.yaml', { NODE_NAME: 'ip-10-0-1-7.eu-west-1.compute.internal' });
  assert.equal(c.node_name, 'ip-10-0-1-7.eu-west-1.compute.internal');
  assert.equal(c.batch.max_age, 30_000);
  assert.equal(c.batch.max_rows, 100_000);
  assert.equal(c.spool.max_bytes, 1024 ** 3);
  assert.equal(c.heartbeat.interval, 15_000);
  assert.equal(c.shutdown.grace, 25_000);
  assert.equal(c.encode.compression, 'zstd');
  assert.equal(c.server.port, 9464);
});

test('relative paths resolve against the config file; env references expand with defaults', () => {
  const c = parseConfig(
    `
node_name: \${env:MY_NODE}
spool:
  dir: spool
  max_bytes: \${env:SPOOL_SIZE:-2GiB}
store:
  type: s3
  bucket: \${env:BUCKET}
  sse: aws:kms
  kms_key_id: alias/hoptrace
  request_timeout: 90s
`,
    '/etc/hoptrace/config.yaml',
    { MY_NODE: 'node-b', BUCKET: 'telemetry-landing' },
  );
  assert.equal(c.node_name, 'node-b');
  assert.equal(c.spool.dir, '/etc/hoptrace/spool');
  assert.equal(c.spool.max_bytes, 2 * 1024 ** 3);
  assert.equal(c.store.type, 's3');
  if (c.store.type === 's3') {
    assert.equal(c.store.bucket, 'telemetry-landing');
    assert.equal(c.store.prefix, 'hoptrace');
    assert.equal(c.store.request_timeout, 90_000);
    assert.equal(c.store.multipart_threshold, 64 * 1024 ** 2);
  }
});

test('every problem is reported at once, each naming its key', () => {
  const problems = problemsOf(`
spool: { dir: /s, max_bytes: lots }
store: { type: s3, bucket: b-1, sse: aws:kms, part_size: 1MiB }
batch: { max_age: soon, max_rowz: 5 }
sources:
  - { type: replay, paths: [] }
  - { type: carrier-pigeon }
`);
  const text = problems.join('\n');
  assert.match(text, /spool\.max_bytes: 'lots' is not a size/);
  assert.match(text, /batch\.max_age: 'soon' is not a duration/);
  assert.match(text, /batch: unknown key\(s\) 'max_rowz'/);
  assert.match(text, /store\.kms_key_id: required when sse is aws:kms/);
  assert.match(text, /store\.part_size: must be at least 5MiB/);
  assert.match(text, /sources\.0\.paths: /);
  assert.match(text, /sources\.1\.type: /);
});

test('the Parquet codec is one of zstd, gzip, none: snappy (no native codec) is refused by name', () => {
  assert.equal(
    parseConfig(`${minimal}encode: { compression: gzip }\n`, '/c.yaml', { NODE_NAME: 'n' }).encode.compression,
    'gzip',
  );
  assert.match(
    problemsOf(`${minimal}encode: { compression: snappy }\n`).join(),
    /encode\.compression: .*"zstd"\|"gzip"\|"none"/,
  );
});

test('missing environment, missing node name and broken YAML are clear errors', () => {
  assert.ok(
    problemsOf(`${minimal}node_name: \${env:NOPE}\n`, {}).includes(
      'environment variable NOPE is referenced but not set',
    ),
  );
  assert.match(problemsOf(minimal, {}).join(), /node_name: not set and neither HOPTRACE_NODE_NAME nor NODE_NAME/);
  assert.match(problemsOf('spool: [unclosed', {}).join(), /not valid YAML/);
  assert.match(
    problemsOf(`${minimal}node_name: Not_A_Node\n`, {}).join(),
    /'Not_A_Node' is not a Kubernetes node name/,
  );
});

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['agent/bin/hoptrace.ts', ...args],
      { env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

test('hoptrace check-config: exit 0 on a good file, 2 with the problems on a bad one', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'good.yaml'), minimal);
  writeFileSync(join(dir, 'bad.yaml'), `${minimal}upload: { concurrency: 0 }\n`);
  const good = await cli(['check-config', join(dir, 'good.yaml')], { NODE_NAME: 'node-a' });
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /ok \(node node-a, store local, 0 source\(s\)\)/);
  const bad = await cli(['check-config', join(dir, 'bad.yaml')], { NODE_NAME: 'node-a' });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /invalid configuration .*bad\.yaml:\n {2}- upload\.concurrency: /);
  const usage = await cli(['frobnicate']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /unknown command 'frobnicate'[\s\S]*usage:/);
});

test('hoptrace run with an unusable spool exits 1 with a message naming the directory', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'file'), '');
  writeFileSync(
    join(dir, 'c.yaml'),
    `spool: { dir: file/spool }\nstore: { type: local, dir: out }\nserver: { enabled: false }\n`,
  );
  const r = await cli(['run', '--config', join(dir, 'c.yaml')], { NODE_NAME: 'node-a' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot use spool directory .*file\/spool: ENOTDIR/);
});

test('hoptrace schema prints the contract; --format json carries the fingerprint', async () => {
  const r = await cli(['schema', '--table', 'spans', '--format', 'json']);
  assert.equal(r.code, 0);
  const out = JSON.parse(r.stdout) as { schema_version: number; fingerprint: string; tables: { name: string }[] };
  assert.equal(out.schema_version, 1);
  assert.match(out.fingerprint, /^[0-9a-f]{16}$/);
  assert.deepEqual(
    out.tables.map((t) => t.name),
    ['spans'],
  );
});

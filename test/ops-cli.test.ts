// The operations CLI: `hoptrace backfill` against a local server implementing the Databricks
// Jobs API endpoints it uses (list, run-now, runs/get, runs/get-output, the OAuth token
// endpoint), with the job defined as lakehouse/resources/backfill.job.yml defines it; and
// `hoptrace status` against a real agent's endpoints.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse as parseYaml, stringify } from 'yaml';
import { backfill, DEFAULT_JOB_NAME, formatTime, parseTime } from '../agent/src/cli/backfill.ts';
import { parseIni } from '../agent/src/cli/databricks.ts';
import { histogramQuantileBound, parsePrometheusText } from '../agent/src/cli/prometheus-text.ts';
import { readStatus, status } from '../agent/src/cli/status.ts';
import { UsageError } from '../agent/src/cli/usage.ts';
import { flowLines } from './support/records.ts';
import { tempDir } from './support/tmp.ts';

const CLI = 'agent/bin/hoptrace.ts';

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { PATH: process.env.PATH, HOME: '/nonexistent', ...env } },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The backfill command in this process (the CLI binary is exercised by a few tests below). */
async function backfillIn(args: string[], env: NodeJS.ProcessEnv) {
  let stdout = '';
  let stderr = '';
  const code = await backfill(args, {
    out: {
      write: (t: string) => {
        stdout += t;
      },
    },
    err: {
      write: (t: string) => {
        stderr += t;
      },
    },
    env: { HOME: '/nonexistent', ...env },
  });
  return { code, stdout, stderr };
}

// --- The backfill job as the lakehouse bundle defines it -----------------------------------------
interface JobDef {
  name: string;
  parameters: { name: string; default?: string }[];
}
const bundleJob = (() => {
  const doc = parseYaml(readFileSync('lakehouse/resources/backfill.job.yml', 'utf8')) as {
    resources: { jobs: Record<string, JobDef> };
  };
  return Object.values(doc.resources.jobs)[0]!;
})();

test('the lakehouse backfill job is the one the CLI looks for, with the parameters it sends', () => {
  assert.equal(bundleJob.name, DEFAULT_JOB_NAME);
  const names = bundleJob.parameters.map((p) => p.name);
  for (const p of ['start', 'end', 'source', 'catalog']) assert.ok(names.includes(p), `parameter ${p}`);
});

// --- A local Jobs API ------------------------------------------------------------------------------
interface FakeJob extends JobDef {
  job_id: number;
  outcome: 'SUCCESS' | 'FAILED';
}
interface FakeRun {
  run_id: number;
  job_id: number;
  params: Record<string, string>;
  polls: number;
  outcome: 'SUCCESS' | 'FAILED';
}

class JobsApi {
  readonly token = 'dapi-test-token-0123456789';
  readonly clientId = 'sp-client-id';
  readonly clientSecret = 'sp-client-secret';
  jobs: FakeJob[] = [];
  runs: FakeRun[] = [];
  runNowCalls: { job_id: number; job_parameters: Record<string, string>; idempotency_token?: string }[] = [];
  requests: string[] = [];
  /** Answer the next runs/get with a 503 this many times (throttling/outage the client must ride out). */
  failNextRunsGet = 0;
  private issued = new Set<string>();
  private server = createServer((req, res) => {
    this.handle(req, res).catch((err: Error) =>
      this.send(res, 500, { error_code: 'INTERNAL_ERROR', message: err.message }),
    );
  });
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
  reset(): void {
    this.jobs = [];
    this.runs = [];
    this.runNowCalls = [];
    this.requests = [];
    this.failNextRunsGet = 0;
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  private async body(req: IncomingMessage): Promise<string> {
    let text = '';
    for await (const chunk of req) text += chunk;
    return text;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    this.requests.push(`${req.method} ${url.pathname}`);
    if (url.pathname === '/oidc/v1/token') {
      const expected = `Basic ${Buffer.from(`${this.clientId}:${this.clientSecret}`).toString('base64')}`;
      const form = new URLSearchParams(await this.body(req));
      if (req.headers.authorization !== expected || form.get('grant_type') !== 'client_credentials')
        return this.send(res, 401, { error: 'invalid_client' });
      const token = `oauth-${this.issued.size}`;
      this.issued.add(token);
      return this.send(res, 200, { access_token: token, token_type: 'Bearer', expires_in: 3600 });
    }
    const auth = req.headers.authorization ?? '';
    if (auth !== `Bearer ${this.token}` && !this.issued.has(auth.replace(/^Bearer /, '')))
      return this.send(res, 403, { error_code: 'PERMISSION_DENIED', message: 'Invalid access token.' });

    if (req.method === 'GET' && url.pathname === '/api/2.2/jobs/list') {
      const name = url.searchParams.get('name');
      const limit = Number(url.searchParams.get('limit') ?? 20);
      const offset = Number(url.searchParams.get('page_token') ?? 0);
      const matching = this.jobs.filter((j) => !name || j.name.toLowerCase() === name.toLowerCase());
      const page = matching.slice(offset, offset + Math.min(limit, 2)); // small pages: the client must follow them
      const more = offset + page.length < matching.length;
      return this.send(res, 200, {
        jobs: page.map((j) => ({ job_id: j.job_id, settings: { name: j.name, parameters: j.parameters } })),
        has_more: more,
        ...(more ? { next_page_token: String(offset + page.length) } : {}),
      });
    }
    if (req.method === 'GET' && url.pathname === '/api/2.2/jobs/get') {
      const job = this.jobs.find((j) => j.job_id === Number(url.searchParams.get('job_id')));
      if (!job) return this.send(res, 400, { error_code: 'INVALID_PARAMETER_VALUE', message: 'Job does not exist.' });
      return this.send(res, 200, { job_id: job.job_id, settings: { name: job.name, parameters: job.parameters } });
    }
    if (req.method === 'POST' && url.pathname === '/api/2.2/jobs/run-now') {
      const body = JSON.parse(await this.body(req)) as FakeRun & {
        job_parameters: Record<string, string>;
        idempotency_token?: string;
      };
      this.runNowCalls.push(body);
      const job = this.jobs.find((j) => j.job_id === body.job_id);
      if (!job)
        return this.send(res, 400, {
          error_code: 'INVALID_PARAMETER_VALUE',
          message: `Job ${body.job_id} does not exist.`,
        });
      const unknown = Object.keys(body.job_parameters).filter((k) => !job.parameters.some((p) => p.name === k));
      if (unknown.length)
        return this.send(res, 400, { error_code: 'INVALID_PARAMETER_VALUE', message: `unknown ${unknown}` });
      const run: FakeRun = {
        run_id: 9000 + this.runs.length,
        job_id: job.job_id,
        params: body.job_parameters,
        polls: 0,
        outcome: job.outcome,
      };
      this.runs.push(run);
      return this.send(res, 200, { run_id: run.run_id, number_in_job: run.run_id });
    }
    if (req.method === 'GET' && url.pathname === '/api/2.2/jobs/runs/get') {
      if (this.failNextRunsGet > 0) {
        this.failNextRunsGet--;
        return this.send(res, 503, { error_code: 'TEMPORARILY_UNAVAILABLE', message: 'try again' });
      }
      const run = this.runs.find((r) => r.run_id === Number(url.searchParams.get('run_id')));
      if (!run) return this.send(res, 404, { error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'no such run' });
      run.polls++;
      // First answer (right after run-now): queued; then running; from the fourth, terminated.
      const phase = run.polls === 1 ? 'QUEUED' : run.polls < 4 ? 'RUNNING' : 'TERMINATED';
      const done = phase === 'TERMINATED';
      const code = run.outcome === 'SUCCESS' ? 'SUCCESS' : 'RUN_EXECUTION_ERROR';
      const taskStatus = {
        state: phase === 'QUEUED' ? 'PENDING' : phase,
        ...(done
          ? { termination_details: { code, type: run.outcome === 'SUCCESS' ? 'SUCCESS' : 'CLIENT_ERROR', message: '' } }
          : {}),
      };
      return this.send(res, 200, {
        run_id: run.run_id,
        job_id: run.job_id,
        run_page_url: `${this.url}/#job/${run.job_id}/run/${run.run_id}`,
        status: {
          state: phase,
          ...(done
            ? {
                termination_details: {
                  code,
                  type: 'SUCCESS',
                  message: run.outcome === 'SUCCESS' ? '' : 'Workload failed, see run output for details',
                },
              }
            : {}),
        },
        state: { life_cycle_state: phase, ...(done ? { result_state: run.outcome } : {}) },
        tasks: [{ task_key: 'backfill', run_id: run.run_id * 10, attempt_number: 0, status: taskStatus }],
        start_time: 1_764_000_000_000,
        ...(done ? { end_time: 1_764_000_312_000, run_duration: 312_000 } : {}),
      });
    }
    if (req.method === 'GET' && url.pathname === '/api/2.2/jobs/runs/get-output') {
      return this.send(res, 200, {
        error: 'ValueError: no finalized windows in range: ops.frontier.finalized_upto is 2026-11-24T08:00:00Z',
        metadata: { run_id: Number(url.searchParams.get('run_id')) },
      });
    }
    return this.send(res, 404, { error_code: 'ENDPOINT_NOT_FOUND', message: `${req.method} ${url.pathname}` });
  }
}

const api = new JobsApi();
before(() => api.start());
after(() => api.stop());

const env = () => ({ DATABRICKS_HOST: api.url, DATABRICKS_TOKEN: api.token });
const theJob = (outcome: FakeJob['outcome'] = 'SUCCESS', id = 42): FakeJob => ({
  job_id: id,
  name: bundleJob.name,
  parameters: bundleJob.parameters,
  outcome,
});
const WINDOW = ['--from', '2026-11-24T09:00:00Z', '--to', '2026-11-24T12:30:00+01:00', '--poll', '0.02'];

test('backfill: finds the job by name, runs it with start/end/source, follows it to success', async () => {
  api.reset();
  api.jobs = [
    { ...theJob('SUCCESS', 7), name: 'hoptrace-finalize' },
    { ...theJob('SUCCESS', 8), name: 'other' },
    theJob('SUCCESS', 42),
  ];
  api.failNextRunsGet = 1;
  const r = await cli(['backfill', ...WINDOW, '--source', 'bronze'], env());
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(
    api.runNowCalls.map((c) => [c.job_id, c.job_parameters]),
    [[42, { start: '2026-11-24T09:00:00Z', end: '2026-11-24T11:30:00Z', source: 'bronze' }]],
  );
  assert.match(api.runNowCalls[0]!.idempotency_token ?? '', /^[0-9a-f-]{36}$/);
  assert.match(
    r.stdout,
    /backfill 2026-11-24T09:00:00Z → 2026-11-24T11:30:00Z from bronze: job hoptrace-backfill \(id 42\)/,
  );
  assert.match(r.stdout, new RegExp(`run 9000 started: ${api.url}/#job/42/run/9000`));
  assert.match(r.stdout, /RUNNING {2}\[backfill: RUNNING\]/);
  assert.match(r.stdout, /TERMINATED SUCCESS {2}\[backfill: TERMINATED SUCCESS\]/);
  assert.match(r.stdout, /run 9000 succeeded in 5m12s/);
  assert.ok(api.requests.filter((x) => x === 'GET /api/2.2/jobs/runs/get').length >= 5, 'the 503 was retried');
});

test('backfill: a failed run exits 1 with the run state, the task error and the link', async () => {
  api.reset();
  api.jobs = [theJob('FAILED')];
  const r = await backfillIn([...WINDOW, '--json'], env());
  assert.equal(r.code, 1);
  assert.match(r.stderr, /run 9000 ended RUN_EXECUTION_ERROR: Workload failed/);
  assert.match(r.stderr, /task backfill: RUN_EXECUTION_ERROR: ValueError: no finalized windows in range/);
  assert.match(r.stderr, /details: http:\/\/127\.0\.0\.1:\d+\/#job\/42\/run\/9000/);
  const out = JSON.parse(r.stdout) as { result: string; job_parameters: Record<string, string> };
  assert.equal(out.result, 'RUN_EXECUTION_ERROR');
  assert.equal(out.job_parameters.source, 'silver');
});

test('backfill: refused credentials stop before anything runs', async () => {
  api.reset();
  api.jobs = [theJob()];
  const r = await backfillIn([...WINDOW], { DATABRICKS_HOST: api.url, DATABRICKS_TOKEN: 'dapi-wrong' });
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /Databricks refused the credentials for http:\/\/127\.0\.0\.1:\d+ \(HTTP 403 PERMISSION_DENIED: Invalid access token\.\)/,
  );
  assert.match(r.stderr, /environment \(DATABRICKS_HOST\)/);
  assert.equal(api.runNowCalls.length, 0);
  const none = await backfillIn([...WINDOW], {});
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no Databricks workspace: set DATABRICKS_HOST and DATABRICKS_TOKEN/);
});

test('backfill: a service principal from a ~/.databrickscfg profile (OAuth M2M), with --dry-run', async () => {
  api.reset();
  api.jobs = [theJob()];
  const dir = tempDir();
  const cfg = join(dir, 'databrickscfg');
  writeFileSync(
    cfg,
    `[DEFAULT]\nhost = https://wrong.example\ntoken = nope\n\n[prod]\nhost = ${api.url}/\nclient_id = ${api.clientId}\nclient_secret = ${api.clientSecret}\n`,
  );
  const r = await backfillIn([...WINDOW, '--profile', 'prod', '--catalog', 'hoptrace', '--dry-run', '--json'], {
    DATABRICKS_CONFIG_FILE: cfg,
    DATABRICKS_HOST: 'https://ignored.example',
  });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    job_id: 42,
    job_name: 'hoptrace-backfill',
    job_parameters: {
      start: '2026-11-24T09:00:00Z',
      end: '2026-11-24T11:30:00Z',
      source: 'silver',
      catalog: 'hoptrace',
    },
  });
  assert.deepEqual(api.requests.slice(0, 2), ['POST /oidc/v1/token', 'GET /api/2.2/jobs/list']);
  assert.equal(api.runNowCalls.length, 0, 'dry run');
  const bad = await backfillIn([...WINDOW, '--profile', 'staging'], { DATABRICKS_CONFIG_FILE: cfg });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /no profile \[staging\]/);
});

test('backfill: no such job, several jobs, or a job without the parameters is an error that says what to do', async () => {
  api.reset();
  const missing = await backfillIn([...WINDOW], env());
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no job named 'hoptrace-backfill'.*\[dev you\] hoptrace-backfill/);

  api.jobs = [theJob('SUCCESS', 1), theJob('SUCCESS', 2), theJob('SUCCESS', 3)];
  const several = await backfillIn([...WINDOW], env());
  assert.equal(several.code, 1);
  assert.match(several.stderr, /3 jobs are named 'hoptrace-backfill' \(ids 1, 2, 3\); pick one with --job-id/);
  const picked = await backfillIn([...WINDOW, '--job-id', '3', '--no-wait'], env());
  assert.equal(picked.code, 0, picked.stderr);
  assert.equal(api.runNowCalls.at(-1)?.job_id, 3);
  const absent = await backfillIn([...WINDOW, '--job-id', '77'], env());
  assert.equal(absent.code, 1);
  assert.match(
    absent.stderr,
    /GET \/api\/2\.2\/jobs\/get\?job_id=77 failed: HTTP 400 INVALID_PARAMETER_VALUE: Job does not exist\./,
  );

  api.reset();
  api.jobs = [{ ...theJob(), parameters: [{ name: 'window' }] }];
  const wrong = await backfillIn([...WINDOW], env());
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /does not take the parameter\(s\) start, end, source \(it takes: window\)/);
  assert.equal(api.runNowCalls.length, 0);
});

test('backfill: bad arguments are usage errors (exit 2 from the CLI)', async () => {
  api.reset();
  for (const [args, message] of [
    [['--from', '2026-11-24T12:00:00Z', '--to', '2026-11-24T09:00:00Z'], /must be before --to/],
    [['--from', 'yesterday', '--to', 'now'], /'yesterday' is not a time/],
    [['--from', 'now-2h', '--to', 'now', '--source', 'gold'], /--source must be silver or bronze/],
    [['--from', 'now-2h', '--to', 'now+1h'], /is not a time/],
    [['--from', '2026-11-24', '--to', '2099-01-01'], /is in the future/],
    [['--to', 'now'], /needs --from and --to/],
  ] as const) {
    await assert.rejects(
      backfillIn([...args], env()),
      (err: Error) => err instanceof UsageError && message.test(err.message),
    );
  }
  await assert.rejects(backfillIn(['--from', 'now-1h', '--to', 'now', '--bogus'], env()), /Unknown option '--bogus'/);
  const r = await cli(['backfill', '--from', 'now', '--to', 'now-1h'], env());
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /hoptrace: --from \(.*\) must be before --to[\s\S]*usage:[\s\S]*hoptrace backfill --from TIME/,
  );
  assert.equal(api.runNowCalls.length, 0);
});

test('times: ISO 8601 with or without offset, dates, and now-relative', () => {
  const now = new Date('2026-11-25T10:00:00.123Z');
  assert.equal(formatTime(parseTime('2026-11-24T09:30:00Z', now)), '2026-11-24T09:30:00Z');
  assert.equal(formatTime(parseTime('2026-11-24T09:30+02:00', now)), '2026-11-24T07:30:00Z');
  assert.equal(formatTime(parseTime('2026-11-24 09:30:15.5', now)), '2026-11-24T09:30:15Z');
  assert.equal(formatTime(parseTime('2026-11-24', now)), '2026-11-24T00:00:00Z');
  assert.equal(formatTime(parseTime('now', now)), '2026-11-25T10:00:00Z');
  assert.equal(formatTime(parseTime('now-90m', now)), '2026-11-25T08:30:00Z');
  assert.equal(formatTime(parseTime('-2d', now)), '2026-11-23T10:00:00Z');
  assert.throws(() => parseTime('2026-13-45', now), UsageError);
  assert.throws(() => parseTime('tomorrow', now), UsageError);
});

test('parsers: ~/.databrickscfg sections and the Prometheus text format', () => {
  const ini = parseIni('; comment\n[DEFAULT]\nhost = https://a.cloud.databricks.com\n\n[p]\nToken=x=y\n');
  assert.deepEqual(ini.get('DEFAULT'), { host: 'https://a.cloud.databricks.com' });
  assert.deepEqual(ini.get('p'), { token: 'x=y' });

  const m = parsePrometheusText(
    [
      '# HELP x_total X.',
      '# TYPE x_total counter',
      'x_total{reason="a \\"quoted\\" {brace}",table="flows"} 3',
      'x_total{reason="b",table="spans"} 4.5e1',
      'up 1 1764000000000',
      'h_bucket{le="1"} 5',
      'h_bucket{le="10"} 9',
      'h_bucket{le="+Inf"} 10',
      'g NaN',
    ].join('\n'),
  );
  assert.equal(m.sum('x_total'), 48);
  assert.equal(m.get('x_total', { table: 'flows' })[0]?.labels.reason, 'a "quoted" {brace}');
  assert.equal(m.types.get('x_total'), 'counter');
  assert.equal(m.sum('up'), 1);
  assert.ok(Number.isNaN(m.get('g')[0]!.value));
  assert.equal(histogramQuantileBound(m, 'h', 0.5), 1);
  assert.equal(histogramQuantileBound(m, 'h', 0.9), 10);
  assert.equal(histogramQuantileBound(m, 'h', 0.99), Number.POSITIVE_INFINITY);
  assert.throws(() => parsePrometheusText('x{a="1" 2'), /unterminated/);
});

// --- status against a real agent ---------------------------------------------------------------
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

test('status: a running agent’s records, drops, spool, uploads and readiness; an agent that is gone', async () => {
  const dir = tempDir();
  const port = await freePort();
  writeFileSync(
    join(dir, 'in.ndjson'),
    `${flowLines(1500)}not json\n{"table":"flows","row":{"verdict":"FORWARDED"}}\n{"table":"nope","row":{}}\n`,
  );
  writeFileSync(
    join(dir, 'hoptrace.yaml'),
    stringify({
      node_name: 'node-status',
      spool: { dir: 'spool', max_bytes: '64MiB' },
      store: { type: 'local', dir: 'landing' },
      batch: { max_age: '200ms' },
      server: { host: '127.0.0.1', port },
      log: { level: 'warn' },
      sources: [{ type: 'replay', name: 'replay', paths: ['in.ndjson'] }],
    }),
  );
  const child = spawn(process.execPath, [CLI, 'run', '--config', join(dir, 'hoptrace.yaml')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  try {
    // Wait (bounded) until the agent has read everything and uploaded the flows.
    let json = await readStatus(url);
    for (let i = 0; i < 600; i++) {
      if (json.ready && json.records.in === 1500 && json.uploads.ok >= 1 && json.records.dropped === 3) break;
      await new Promise((r) => setTimeout(r, 50));
      json = await readStatus(url);
    }
    assert.equal(json.reachable, true, `${json.error} ${stderr}`);
    assert.equal(json.ready, true);
    assert.equal(json.version, '0.1.0');
    assert.equal(json.records.in, 1500);
    assert.equal(json.spool.limit_bytes, 64 * 1024 * 1024);
    assert.ok(json.uploads.ok >= 1);
    assert.deepEqual(json.drops.map((d) => [d.reason, d.count]).sort(), [
      ['invalid_json', 1],
      ['invalid_record', 1],
      ['unknown_table', 1],
    ]);
    const flows = json.tables.find((t) => t.table === 'flows');
    assert.equal(flows?.in, 1500);
    assert.equal(flows?.spooled, 1500);

    const text = await cli(['status', '--url', `${url}/`]);
    assert.equal(text.code, 0);
    assert.match(text.stdout, new RegExp(`hoptrace agent at ${url}: version 0\\.1\\.0 \\(node v24\\.`));
    assert.match(text.stdout, /state {7}healthy, ready/);
    assert.match(text.stdout, /records {5}in 1,500, spooled 1,500, dropped 3, lost upstream 0/);
    assert.match(text.stdout, /spool {7}.* of 64\.0 MiB/);
    assert.match(text.stdout, /dropped {5}invalid_record: 1 \(flows, source replay\)/);
    assert.match(text.stdout, /dropped {5}unknown_table: 1 \(nope, source replay\)/);
    assert.doesNotMatch(text.stdout, /kubernetes|hubble|otlp/, 'no source lines for sources not running');
    assert.match(text.stdout, /flows +1,500 +1,500/);
    // The replayed events are from 2026-11-25T07:00Z: older than the largest latency bucket.
    assert.match(text.stdout, /landing {5}\d+ files?; half after more than 900s, 99% after more than 900s/);

    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
  } finally {
    child.kill('SIGKILL');
  }
  let out = '';
  const io = {
    out: {
      write: (t: string) => {
        out += t;
      },
    },
  };
  assert.equal(await status(['--url', url], io), 1);
  assert.match(out, /unreachable \(connect ECONNREFUSED/);
  // Something that answers but is not an agent.
  out = '';
  assert.equal(await status(['--url', api.url, '--json'], io), 1);
  assert.equal((JSON.parse(out) as { reachable: boolean }).reachable, false);
  await assert.rejects(status(['localhost:9464'], io), /use --url/);
});

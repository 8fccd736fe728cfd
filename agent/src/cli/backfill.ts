// hoptrace backfill: re-finalize a past time range in the lakehouse by running its backfill job
// (lakehouse/resources/backfill.job.yml: job `hoptrace-backfill`, parameters start, end [, source,
// catalog]) through the Databricks Jobs API, following the run until it ends.
import { parseArgs } from 'node:util';
import {
  DatabricksClient,
  type DatabricksError,
  findJobs,
  getJob,
  getRun,
  getRunOutput,
  isTerminal,
  type JobSummary,
  type Run,
  resolveAuth,
  runNow,
  runPhase,
  runResult,
  sleep,
} from './databricks.ts';
import { UsageError } from './usage.ts';

export const BACKFILL_USAGE = `hoptrace backfill --from TIME --to TIME [--source silver|bronze] [--job-name NAME | --job-id ID]
                  [--catalog NAME] [--profile NAME] [--poll SECONDS] [--timeout SECONDS] [--no-wait] [--dry-run] [--json]
    TIME: 2026-11-24T09:30:00Z, 2026-11-24T09:30+01:00, 2026-11-24 (UTC midnight), now, now-90m, now-2h, now-1d`;

export const DEFAULT_JOB_NAME = 'hoptrace-backfill';
const REQUIRED_PARAMETERS = ['start', 'end'];

/** Parses a point in time: ISO 8601 (UTC unless an offset is given), a date (UTC midnight), or now[-N(s|m|h|d)]. */
export function parseTime(text: string, now: Date = new Date()): Date {
  const t = text.trim();
  const rel = /^now(?:\s*-\s*(\d+)\s*([smhd]))?$/i.exec(t) ?? /^-(\d+)\s*([smhd])$/i.exec(t);
  if (rel) {
    const unit = { s: 1, m: 60, h: 3600, d: 86400 }[(rel[2] ?? 's').toLowerCase() as 's' | 'm' | 'h' | 'd'];
    return new Date(now.getTime() - Number(rel[1] ?? 0) * unit * 1000);
  }
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)(Z|[+-]\d{2}:?\d{2})?)?$/i.exec(t);
  if (!m) throw new UsageError(`'${text}' is not a time (use e.g. 2026-11-24T09:30:00Z, 2026-11-24, now-2h)`);
  const iso = `${m[1]}T${m[2] ?? '00:00'}${m[3] ? m[3].toUpperCase() : 'Z'}`;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) throw new UsageError(`'${text}' is not a valid time`);
  return d;
}

/** The form the lakehouse job parses: ISO 8601 UTC to the second. */
export function formatTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

interface Out {
  write(text: string): void;
}

/** Runs the command; returns the exit code (0 success, 1 the run or the API failed). */
export async function backfill(
  argv: string[],
  io: { out: Out; err: Out; env?: NodeJS.ProcessEnv; now?: () => Date } = {
    out: process.stdout,
    err: process.stderr,
  },
): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      source: { type: 'string', default: 'silver' },
      'job-name': { type: 'string', default: DEFAULT_JOB_NAME },
      'job-id': { type: 'string' },
      catalog: { type: 'string' },
      profile: { type: 'string' },
      poll: { type: 'string', default: '10' },
      timeout: { type: 'string', default: '21600' },
      'no-wait': { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const now = io.now?.() ?? new Date();
  if (!values.from || !values.to) throw new UsageError('backfill needs --from and --to');
  const from = parseTime(values.from, now);
  const to = parseTime(values.to, now);
  if (from >= to) throw new UsageError(`--from (${formatTime(from)}) must be before --to (${formatTime(to)})`);
  if (to.getTime() > now.getTime() + 60_000) throw new UsageError(`--to (${formatTime(to)}) is in the future`);
  if (values.source !== 'silver' && values.source !== 'bronze')
    throw new UsageError(`--source must be silver or bronze, not '${values.source}'`);
  const pollMs = Number(values.poll) * 1000;
  const timeoutMs = Number(values.timeout) * 1000;
  if (!(pollMs > 0) || !(timeoutMs > 0)) throw new UsageError('--poll and --timeout take a number of seconds');
  const jobIdArg = values['job-id'] === undefined ? undefined : Number(values['job-id']);
  if (jobIdArg !== undefined && !Number.isInteger(jobIdArg)) throw new UsageError('--job-id takes a number');

  const say = (line: string) => {
    if (!values.json) io.out.write(`${line}\n`);
  };
  const warn = (line: string) => io.err.write(`hoptrace backfill: ${line}\n`);
  if (values.source === 'bronze' && now.getTime() - from.getTime() > 30 * 86400_000)
    warn('Bronze keeps 30 days; the part of the range older than that has nothing to re-normalize');
  if (now.getTime() - from.getTime() > 180 * 86400_000) warn('Silver and Gold keep 180 days; older windows are empty');

  let client: DatabricksClient;
  try {
    client = new DatabricksClient(
      resolveAuth(values.profile ? { profile: values.profile } : {}, io.env ?? process.env),
    );
  } catch (err) {
    io.err.write(`hoptrace backfill: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    // The job: by id, or by name (exactly one job of that name).
    let job: JobSummary;
    if (jobIdArg !== undefined) job = await getJob(client, jobIdArg);
    else {
      const jobs = await findJobs(client, values['job-name']!);
      if (jobs.length === 0)
        throw new Failure(
          `no job named '${values['job-name']}' in ${client.auth.host}. Deploy the lakehouse bundle (databricks bundle deploy -t prod), or pass --job-name: in a development target the name is prefixed, e.g. '[dev you] ${DEFAULT_JOB_NAME}'`,
        );
      if (jobs.length > 1)
        throw new Failure(
          `${jobs.length} jobs are named '${values['job-name']}' (ids ${jobs.map((j) => j.job_id).join(', ')}); pick one with --job-id`,
        );
      job = jobs[0]!;
    }
    const jobId = job.job_id;
    const jobName = job.settings?.name ?? values['job-name']!;
    const declared = job.settings?.parameters?.map((p) => p.name);
    const params: Record<string, string> = { start: formatTime(from), end: formatTime(to), source: values.source };
    if (values.catalog) params.catalog = values.catalog;
    if (declared) {
      const missing = [...REQUIRED_PARAMETERS, ...Object.keys(params)].filter((p) => !declared.includes(p));
      if (missing.length)
        throw new Failure(
          `job ${jobName} (${jobId}) does not take the parameter(s) ${[...new Set(missing)].join(', ')} (it takes: ${declared.join(', ') || 'none'}); is it the hoptrace backfill job?`,
        );
    }
    say(
      `backfill ${params.start} → ${params.end} from ${values.source}: job ${jobName} (id ${jobId}) in ${client.auth.host}`,
    );
    if (values['dry-run']) {
      say('dry run: not started');
      if (values.json)
        io.out.write(`${JSON.stringify({ job_id: jobId, job_name: jobName, job_parameters: params })}\n`);
      return 0;
    }

    const started = await runNow(client, jobId, params);
    let run = await getRun(client, started.run_id);
    say(`run ${started.run_id} started${run.run_page_url ? `: ${run.run_page_url}` : ''}`);
    if (values['no-wait']) {
      if (values.json) io.out.write(`${JSON.stringify(summary(run, jobName, params))}\n`);
      return 0;
    }

    // Follow the run: one line whenever its state or a task's state changes.
    const t0 = Date.now();
    let last = '';
    for (;;) {
      const line = progressLine(run);
      if (line !== last) {
        say(`  ${formatDuration(Date.now() - t0).padStart(6)}  ${line}`);
        last = line;
      }
      if (isTerminal(run)) break;
      if (Date.now() - t0 > timeoutMs) {
        warn(
          `stopped waiting after ${formatDuration(timeoutMs)}; run ${run.run_id} goes on in Databricks${run.run_page_url ? `: ${run.run_page_url}` : ''}`,
        );
        return 1;
      }
      await sleep(pollMs);
      run = await getRun(client, started.run_id);
    }

    const result = runResult(run);
    const took = run.run_duration ?? (run.end_time && run.start_time ? run.end_time - run.start_time : undefined);
    if (values.json) io.out.write(`${JSON.stringify(summary(run, jobName, params))}\n`);
    if (result === 'SUCCESS') {
      say(`run ${run.run_id} succeeded${took ? ` in ${formatDuration(took)}` : ''}`);
      return 0;
    }
    const message = run.status?.termination_details?.message ?? run.state?.state_message;
    io.err.write(`hoptrace backfill: run ${run.run_id} ended ${result}${message ? `: ${message}` : ''}\n`);
    for (const task of run.tasks ?? []) {
      if (runResult(task) === 'SUCCESS') continue;
      const output = await getRunOutput(client, task.run_id).catch(() => undefined);
      const error = output?.error ?? task.status?.termination_details?.message ?? task.state?.state_message;
      if (error) io.err.write(`  task ${task.task_key}: ${runResult(task)}: ${error}\n`);
    }
    if (run.run_page_url) io.err.write(`  details: ${run.run_page_url}\n`);
    return 1;
  } catch (err) {
    if (err instanceof Failure || (err as DatabricksError).name === 'DatabricksError') {
      io.err.write(`hoptrace backfill: ${(err as Error).message}\n`);
      return 1;
    }
    throw err;
  } finally {
    await client.close();
  }
}

class Failure extends Error {}

function progressLine(run: Run): string {
  const tasks = (run.tasks ?? [])
    .map(
      (t) =>
        `${t.task_key}: ${runPhase(t)}${isTerminal(t) ? ` ${runResult(t)}` : ''}${(t.attempt_number ?? 0) > 0 ? ` (retry ${t.attempt_number})` : ''}`,
    )
    .join(', ');
  return `${runPhase(run)}${isTerminal(run) ? ` ${runResult(run)}` : ''}${tasks ? `  [${tasks}]` : ''}`;
}

function summary(run: Run, jobName: string, params: Record<string, string>) {
  return {
    run_id: run.run_id,
    job_id: run.job_id,
    job_name: jobName,
    job_parameters: params,
    state: runPhase(run),
    result: isTerminal(run) ? runResult(run) : null,
    run_page_url: run.run_page_url ?? null,
  };
}

// A small Databricks REST client for the operations CLI: workspace authentication the way the
// Databricks CLI and SDKs resolve it (environment, then a ~/.databrickscfg profile), personal
// access tokens or OAuth machine-to-machine (service principal), and JSON requests with
// retries on throttling and server errors.
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';

export interface DatabricksAuth {
  host: string;
  /** Where the settings came from, for messages: "environment" or "profile NAME in FILE". */
  origin: string;
  token?: string;
  clientId?: string;
  clientSecret?: string;
}

export class DatabricksError extends Error {
  override readonly name = 'DatabricksError';
  readonly status: number;
  readonly errorCode: string | undefined;
  constructor(message: string, status = 0, errorCode?: string) {
    super(message);
    this.status = status;
    this.errorCode = errorCode;
  }
}

/** Sections of an INI file such as ~/.databrickscfg: `[name]` then `key = value` lines. */
export function parseIni(text: string): Map<string, Record<string, string>> {
  const sections = new Map<string, Record<string, string>>();
  let current: Record<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = {};
      sections.set(section[1]!.trim(), current);
      continue;
    }
    const kv = /^([^=]+?)\s*=\s*(.*)$/.exec(line);
    if (kv && current) current[kv[1]!.trim().toLowerCase()] = kv[2]!.trim();
  }
  return sections;
}

function normalizeHost(host: string): string {
  const withScheme = /^https?:\/\//i.test(host) ? host : `https://${host}`;
  return withScheme.replace(/\/+$/, '');
}

/**
 * Host and credentials: DATABRICKS_HOST with DATABRICKS_TOKEN (or DATABRICKS_CLIENT_ID and
 * DATABRICKS_CLIENT_SECRET), else the profile (`--profile`, DATABRICKS_CONFIG_PROFILE, or DEFAULT)
 * of DATABRICKS_CONFIG_FILE or ~/.databrickscfg. An explicit profile wins over the environment.
 */
export function resolveAuth(options: { profile?: string } = {}, env: NodeJS.ProcessEnv = process.env): DatabricksAuth {
  const file = env.DATABRICKS_CONFIG_FILE ?? join(env.HOME ?? homedir(), '.databrickscfg');
  const profileName = options.profile ?? env.DATABRICKS_CONFIG_PROFILE ?? 'DEFAULT';
  const fromEnv: Partial<DatabricksAuth> = {
    host: env.DATABRICKS_HOST,
    token: env.DATABRICKS_TOKEN,
    clientId: env.DATABRICKS_CLIENT_ID,
    clientSecret: env.DATABRICKS_CLIENT_SECRET,
  };
  let fromProfile: Partial<DatabricksAuth> | undefined;
  if (existsSync(file)) {
    const section = parseIni(readFileSync(file, 'utf8')).get(profileName);
    if (section)
      fromProfile = {
        host: section.host,
        token: section.token,
        clientId: section.client_id,
        clientSecret: section.client_secret,
      };
    else if (options.profile) throw new DatabricksError(`no profile [${options.profile}] in ${file}`);
  } else if (options.profile) {
    throw new DatabricksError(`profile ${options.profile} requested but ${file} does not exist`);
  }
  const useProfile = Boolean(options.profile) || !fromEnv.host;
  const chosen = useProfile ? { ...fromProfile } : fromEnv;
  const origin = useProfile ? `profile ${profileName} in ${file}` : 'environment (DATABRICKS_HOST)';
  if (!chosen.host)
    throw new DatabricksError(
      `no Databricks workspace: set DATABRICKS_HOST and DATABRICKS_TOKEN, or add a [${profileName}] profile with host and token to ${file} (or pass --profile)`,
    );
  const auth: DatabricksAuth = { host: normalizeHost(chosen.host), origin };
  if (chosen.token) auth.token = chosen.token;
  else if (chosen.clientId && chosen.clientSecret) {
    auth.clientId = chosen.clientId;
    auth.clientSecret = chosen.clientSecret;
  } else
    throw new DatabricksError(
      `no credentials for ${auth.host} in the ${origin}: set a token (DATABRICKS_TOKEN / token) or a service principal (DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET / client_id and client_secret)`,
    );
  return auth;
}

export interface ClientOptions {
  /** Attempts per idempotent request (throttling, 5xx, network errors). */
  attempts?: number;
  /** First retry delay; doubles per attempt, or follows Retry-After. */
  retryDelayMs?: number;
  requestTimeoutMs?: number;
}

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

export class DatabricksClient {
  readonly auth: DatabricksAuth;
  private readonly dispatcher: Agent;
  private readonly attempts: number;
  private readonly retryDelayMs: number;
  private oauth: { token: string; expiresAt: number } | undefined;

  constructor(auth: DatabricksAuth, options: ClientOptions = {}) {
    this.auth = auth;
    this.attempts = options.attempts ?? 5;
    this.retryDelayMs = options.retryDelayMs ?? 1000;
    const timeout = options.requestTimeoutMs ?? 60_000;
    this.dispatcher = new Agent({ connect: { timeout: 10_000 }, headersTimeout: timeout, bodyTimeout: timeout });
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  get<T>(path: string, query: Record<string, string | number | boolean | undefined> = {}): Promise<T> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return this.call<T>('GET', qs ? `${path}?${qs}` : path, undefined, true);
  }

  /** POST; retried only when `idempotent` (the body carries an idempotency token or the call is safe to repeat). */
  post<T>(path: string, body: unknown, idempotent = false): Promise<T> {
    return this.call<T>('POST', path, body, idempotent);
  }

  private async authorization(): Promise<string> {
    if (this.auth.token) return `Bearer ${this.auth.token}`;
    if (this.oauth && this.oauth.expiresAt - 60_000 > Date.now()) return `Bearer ${this.oauth.token}`;
    // OAuth machine-to-machine: the workspace token endpoint, client credentials grant.
    const basic = Buffer.from(`${this.auth.clientId}:${this.auth.clientSecret}`).toString('base64');
    const res = await this.send('POST', '/oidc/v1/token', 'grant_type=client_credentials&scope=all-apis', {
      authorization: `Basic ${basic}`,
      'content-type': 'application/x-www-form-urlencoded',
    });
    if (res.status !== 200)
      throw new DatabricksError(
        `OAuth token request to ${this.auth.host}/oidc/v1/token failed (HTTP ${res.status}): ${describeBody(res.body)}; check the service principal's client id and secret (${this.auth.origin})`,
        res.status,
      );
    const token = res.body as { access_token?: string; expires_in?: number };
    if (!token.access_token) throw new DatabricksError('OAuth token response has no access_token', res.status);
    this.oauth = { token: token.access_token, expiresAt: Date.now() + (token.expires_in ?? 3600) * 1000 };
    return `Bearer ${this.oauth.token}`;
  }

  private async send(
    method: 'GET' | 'POST',
    path: string,
    body: string | undefined,
    headers: Record<string, string>,
  ): Promise<{ status: number; body: unknown; retryAfterMs: number | undefined }> {
    const res = await request(`${this.auth.host}${path}`, {
      method,
      headers: { 'user-agent': 'hoptrace-cli', accept: 'application/json', ...headers },
      body,
      dispatcher: this.dispatcher,
    });
    const text = await res.body.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      // not JSON (an HTML error page from a proxy, say); keep the text for the message
    }
    const retryAfter = Number(res.headers['retry-after']);
    return {
      status: res.statusCode,
      body: parsed,
      retryAfterMs: Number.isFinite(retryAfter) ? retryAfter * 1000 : undefined,
    };
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body: unknown, retry: boolean): Promise<T> {
    const attempts = retry ? this.attempts : 1;
    let lastError: Error | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let res: Awaited<ReturnType<DatabricksClient['send']>>;
      try {
        res = await this.send(method, path, body === undefined ? undefined : JSON.stringify(body), {
          authorization: await this.authorization(),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        });
      } catch (err) {
        if (err instanceof DatabricksError) throw err;
        lastError = new DatabricksError(`${method} ${this.auth.host}${path}: ${(err as Error).message}`);
        if (attempt < attempts) await sleep(this.retryDelayMs * 2 ** (attempt - 1));
        continue;
      }
      if (res.status >= 200 && res.status < 300) return res.body as T;
      const { error_code: code, message } = (res.body ?? {}) as { error_code?: string; message?: string };
      const detail = message ?? describeBody(res.body);
      if (res.status === 401 || res.status === 403)
        throw new DatabricksError(
          `Databricks refused the credentials for ${this.auth.host} (HTTP ${res.status}${code ? ` ${code}` : ''}: ${detail}); they come from the ${this.auth.origin}`,
          res.status,
          code,
        );
      lastError = new DatabricksError(
        `${method} ${path} failed: HTTP ${res.status}${code ? ` ${code}` : ''}: ${detail}`,
        res.status,
        code,
      );
      if (!RETRYABLE_STATUS.has(res.status) || attempt === attempts) throw lastError;
      await sleep(res.retryAfterMs ?? this.retryDelayMs * 2 ** (attempt - 1));
    }
    throw lastError ?? new DatabricksError(`${method} ${path} failed`);
  }
}

function describeBody(body: unknown): string {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text || '(empty body)';
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// --- Jobs API 2.2 ------------------------------------------------------------------------------

export interface JobSummary {
  job_id: number;
  settings?: { name?: string; parameters?: { name: string; default?: string }[] };
}

export interface RunState {
  life_cycle_state?: string;
  result_state?: string;
  state_message?: string;
}

export interface RunStatus {
  state?: string;
  termination_details?: { code?: string; type?: string; message?: string };
}

export interface TaskRun {
  task_key: string;
  run_id: number;
  attempt_number?: number;
  state?: RunState;
  status?: RunStatus;
}

export interface Run {
  run_id: number;
  job_id?: number;
  run_page_url?: string;
  state?: RunState;
  status?: RunStatus;
  tasks?: TaskRun[];
  start_time?: number;
  end_time?: number;
  run_duration?: number;
}

const JOBS = '/api/2.2/jobs';

/** Jobs whose name is `name` (the API matches exactly, case-insensitively), every page. */
export async function findJobs(client: DatabricksClient, name: string): Promise<JobSummary[]> {
  const jobs: JobSummary[] = [];
  let pageToken: string | undefined;
  for (let page = 0; page < 100; page++) {
    const res = await client.get<{ jobs?: JobSummary[]; has_more?: boolean; next_page_token?: string }>(
      `${JOBS}/list`,
      { name, limit: 100, page_token: pageToken },
    );
    jobs.push(...(res.jobs ?? []));
    if (!res.has_more || !res.next_page_token) break;
    pageToken = res.next_page_token;
  }
  return jobs;
}

export function getJob(client: DatabricksClient, jobId: number): Promise<JobSummary> {
  return client.get<JobSummary>(`${JOBS}/get`, { job_id: jobId });
}

export function runNow(
  client: DatabricksClient,
  jobId: number,
  jobParameters: Record<string, string>,
): Promise<{ run_id: number; number_in_job?: number }> {
  // The idempotency token makes a retried run-now start one run, not two.
  return client.post(
    `${JOBS}/run-now`,
    { job_id: jobId, job_parameters: jobParameters, idempotency_token: randomUUID() },
    true,
  );
}

export function getRun(client: DatabricksClient, runId: number): Promise<Run> {
  return client.get<Run>(`${JOBS}/runs/get`, { run_id: runId });
}

export function getRunOutput(
  client: DatabricksClient,
  taskRunId: number,
): Promise<{ error?: string; error_trace?: string }> {
  return client.get(`${JOBS}/runs/get-output`, { run_id: taskRunId });
}

/** The run's state in one word: QUEUED, PENDING, RUNNING, TERMINATING, TERMINATED, SKIPPED, … */
export function runPhase(run: { state?: RunState; status?: RunStatus }): string {
  return run.status?.state ?? run.state?.life_cycle_state ?? 'UNKNOWN';
}

export function isTerminal(run: { state?: RunState; status?: RunStatus }): boolean {
  const phase = runPhase(run);
  return phase === 'TERMINATED' || phase === 'SKIPPED' || phase === 'INTERNAL_ERROR';
}

/** SUCCESS, FAILED, TIMEDOUT, CANCELED, … once terminal. */
export function runResult(run: { state?: RunState; status?: RunStatus }): string {
  const code = run.status?.termination_details?.code;
  if (code) return code === 'SUCCESS' ? 'SUCCESS' : code;
  return run.state?.result_state ?? runPhase(run);
}

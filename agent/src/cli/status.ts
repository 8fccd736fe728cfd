// hoptrace status: one agent's state from its HTTP endpoints (/healthz, /readyz, /metrics):
// readiness, records in and out, spool, uploads, drops and losses by reason, and the sources.
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { type Exposition, histogramQuantileBound, parsePrometheusText } from './prometheus-text.ts';
import { UsageError } from './usage.ts';

export const STATUS_USAGE = 'hoptrace status [--url http://127.0.0.1:9464] [--json]';

interface Out {
  write(text: string): void;
}

export interface AgentStatus {
  url: string;
  reachable: boolean;
  error?: string;
  healthy: boolean;
  ready: boolean;
  readiness: string;
  version?: string;
  node_version?: string;
  records: { in: number; spooled: number; dropped: number; lost: number };
  tables: { table: string; in: number; spooled: number; files: number; bytes: number }[];
  spool: { bytes: number; limit_bytes: number; files: number; oldest_age_seconds: number };
  buffer_bytes: number;
  uploads: { ok: number; retryable_error: number; fatal_error: number; bytes: number };
  s3_errors: { operation: string; code: string; count: number }[];
  /** Bucket bounds holding the median and the 99th percentile; null when beyond the largest bucket. */
  landing_seconds: { files: number; p50_at_most?: number | null; p99_at_most?: number | null; largest_bucket?: number };
  drops: { table: string; source: string; reason: string; count: number }[];
  losses: { table: string; source: string; reason: string; count: number }[];
  paused_sources: string[];
  heartbeats: number;
  sources: Record<string, string>;
}

async function fetchText(
  dispatcher: Agent,
  url: string,
): Promise<{ status: number; text: string } | { error: string }> {
  try {
    const res = await request(url, { method: 'GET', dispatcher, headers: { accept: 'text/plain' } });
    return { status: res.statusCode, text: await res.body.text() };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function byReason(m: Exposition, name: string) {
  return m
    .get(name)
    .filter((s) => s.value > 0)
    .map((s) => ({
      table: s.labels.table ?? '',
      source: s.labels.source ?? '',
      reason: s.labels.reason ?? '',
      count: s.value,
    }))
    .sort((a, b) => b.count - a.count);
}

/** Reads one agent's endpoints into a status; never throws for an unreachable agent. */
export async function readStatus(baseUrl: string, timeoutMs = 5000): Promise<AgentStatus> {
  const base = baseUrl.replace(/\/+$/, '');
  const dispatcher = new Agent({ connect: { timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  try {
    const [health, ready, metrics] = await Promise.all([
      fetchText(dispatcher, `${base}/healthz`),
      fetchText(dispatcher, `${base}/readyz`),
      fetchText(dispatcher, `${base}/metrics`),
    ]);
    const status: AgentStatus = {
      url: base,
      reachable: !('error' in metrics),
      healthy: 'status' in health && health.status === 200,
      ready: 'status' in ready && ready.status === 200,
      readiness: 'error' in ready ? ready.error : ready.text.trim() || `HTTP ${ready.status}`,
      records: { in: 0, spooled: 0, dropped: 0, lost: 0 },
      tables: [],
      spool: { bytes: 0, limit_bytes: 0, files: 0, oldest_age_seconds: 0 },
      buffer_bytes: 0,
      uploads: { ok: 0, retryable_error: 0, fatal_error: 0, bytes: 0 },
      s3_errors: [],
      landing_seconds: { files: 0 },
      drops: [],
      losses: [],
      paused_sources: [],
      heartbeats: 0,
      sources: {},
    };
    if ('error' in metrics) {
      status.error = metrics.error;
      return status;
    }
    if (metrics.status !== 200) {
      status.reachable = false;
      status.error = `/metrics answered HTTP ${metrics.status}`;
      return status;
    }
    const m = parsePrometheusText(metrics.text);
    const info = m.get('hoptrace_build_info')[0];
    if (!info) {
      status.reachable = false;
      status.error = `${base}/metrics is not a hoptrace agent's (no hoptrace_build_info)`;
      return status;
    }
    status.version = info.labels.version;
    status.node_version = info.labels.node_version;
    status.records = {
      in: m.sum('hoptrace_records_in_total'),
      spooled: m.sum('hoptrace_records_spooled_total'),
      dropped: m.sum('hoptrace_records_dropped_total'),
      lost: m.sum('hoptrace_records_lost_total'),
    };
    const tables = new Set(
      ['hoptrace_records_in_total', 'hoptrace_records_spooled_total'].flatMap((n) =>
        m.get(n).map((s) => s.labels.table ?? ''),
      ),
    );
    status.tables = [...tables].sort().map((table) => ({
      table,
      in: m.sum('hoptrace_records_in_total', { table }),
      spooled: m.sum('hoptrace_records_spooled_total', { table }),
      files: m.sum('hoptrace_spool_files_written_total', { table }),
      bytes: m.sum('hoptrace_spool_bytes_written_total', { table }),
    }));
    status.spool = {
      bytes: m.sum('hoptrace_spool_bytes'),
      limit_bytes: m.sum('hoptrace_spool_limit_bytes'),
      files: m.sum('hoptrace_spool_files'),
      oldest_age_seconds: m.sum('hoptrace_spool_oldest_age_seconds'),
    };
    status.buffer_bytes = m.sum('hoptrace_buffer_bytes');
    status.uploads = {
      ok: m.sum('hoptrace_uploads_total', { result: 'ok' }),
      retryable_error: m.sum('hoptrace_uploads_total', { result: 'retryable_error' }),
      fatal_error: m.sum('hoptrace_uploads_total', { result: 'fatal_error' }),
      bytes: m.sum('hoptrace_upload_bytes_total'),
    };
    status.s3_errors = m
      .get('hoptrace_s3_requests_total')
      .filter((s) => s.labels.code !== 'ok' && s.value > 0)
      .map((s) => ({ operation: s.labels.operation ?? '', code: s.labels.code ?? '', count: s.value }));
    const bound = (q: number) => {
      const b = histogramQuantileBound(m, 'hoptrace_landing_latency_seconds', q);
      return b === undefined ? undefined : Number.isFinite(b) ? b : null;
    };
    const finite = m
      .get('hoptrace_landing_latency_seconds_bucket')
      .map((s) => Number(s.labels.le))
      .filter(Number.isFinite);
    status.landing_seconds = {
      files: m.sum('hoptrace_landing_latency_seconds_count'),
      p50_at_most: bound(0.5),
      p99_at_most: bound(0.99),
      ...(finite.length ? { largest_bucket: Math.max(...finite) } : {}),
    };
    status.drops = byReason(m, 'hoptrace_records_dropped_total');
    status.losses = byReason(m, 'hoptrace_records_lost_total');
    status.paused_sources = m
      .get('hoptrace_source_paused')
      .filter((s) => s.value > 0)
      .map((s) => s.labels.source ?? '');
    status.heartbeats = m.sum('hoptrace_heartbeats_total');
    // Source-specific state, when those sources run.
    for (const s of m.get('hoptrace_hubble_stream_connected'))
      status.sources[`${s.labels.source}`] = s.value > 0 ? 'Hubble stream connected' : 'Hubble stream reconnecting';
    if (m.get('hoptrace_k8s_cache_objects').length || m.get('hoptrace_k8s_watch_events_total').length)
      status.sources.kubernetes = `${m.sum('hoptrace_k8s_leader') > 0 ? 'leader (exports cluster-scoped kinds)' : 'follower'}, ${m.sum('hoptrace_k8s_watch_restarts_total')} watch restarts`;
    for (const s of m.get('hoptrace_tail_lag_bytes'))
      status.sources[`${s.labels.source}`] =
        `${formatBytes(s.value)} unread, ${m.sum('hoptrace_tail_files_tracked', { source: s.labels.source ?? '' })} files`;
    if (m.has('hoptrace_otlp_requests_total'))
      status.sources.otlp = `${m.sum('hoptrace_otlp_requests_total', { result: 'ok' })} requests ok, ${m.sum('hoptrace_otlp_spans_rejected_total')} spans rejected`;
    return status;
  } finally {
    await dispatcher.close();
  }
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i ? v.toFixed(1) : v} ${units[i]}`;
}

const count = (n: number) => Math.round(n).toLocaleString('en-US');

export function formatStatus(s: AgentStatus): string {
  if (!s.reachable) return `hoptrace agent at ${s.url}: unreachable (${s.error})\n`;
  const lines: string[] = [];
  const row = (k: string, v: string) => lines.push(`  ${k.padEnd(12)}${v}`);
  lines.push(`hoptrace agent at ${s.url}: version ${s.version} (node ${s.node_version})`);
  row('state', `${s.healthy ? 'healthy' : 'NOT HEALTHY'}, ${s.ready ? 'ready' : `NOT READY (${s.readiness})`}`);
  row(
    'records',
    `in ${count(s.records.in)}, spooled ${count(s.records.spooled)}, dropped ${count(s.records.dropped)}, lost upstream ${count(s.records.lost)}`,
  );
  const pct = s.spool.limit_bytes ? ` (${((100 * s.spool.bytes) / s.spool.limit_bytes).toFixed(1)}%)` : '';
  row(
    'spool',
    `${formatBytes(s.spool.bytes)} of ${formatBytes(s.spool.limit_bytes)}${pct} in ${count(s.spool.files)} files waiting, oldest ${Math.round(s.spool.oldest_age_seconds)}s`,
  );
  row('memory', `${formatBytes(s.buffer_bytes)} of records buffered before the spool`);
  row(
    'uploads',
    `ok ${count(s.uploads.ok)}, retryable errors ${count(s.uploads.retryable_error)}, fatal errors ${count(s.uploads.fatal_error)}; ${formatBytes(s.uploads.bytes)} uploaded`,
  );
  if (s.landing_seconds.files) {
    const within = (b: number | null | undefined) =>
      b === null ? `after more than ${s.landing_seconds.largest_bucket}s` : `within ${b}s`;
    row(
      'landing',
      `${count(s.landing_seconds.files)} file${s.landing_seconds.files === 1 ? '' : 's'}; half ${within(s.landing_seconds.p50_at_most)}, 99% ${within(s.landing_seconds.p99_at_most)} of their newest event (since start)`,
    );
  }
  row('heartbeats', count(s.heartbeats));
  row('paused', s.paused_sources.length ? s.paused_sources.join(', ') : 'no source paused');
  for (const e of s.s3_errors) row('s3 error', `${e.operation} ${e.code}: ${count(e.count)}`);
  for (const d of s.drops) row('dropped', `${d.reason}: ${count(d.count)} (${d.table}, source ${d.source})`);
  for (const d of s.losses) row('lost', `${d.reason}: ${count(d.count)} (${d.table}, source ${d.source})`);
  for (const [name, state] of Object.entries(s.sources)) row('source', `${name}: ${state}`);
  if (s.tables.length) {
    lines.push(
      `  ${'table'.padEnd(18)}${'in'.padStart(12)}${'spooled'.padStart(12)}${'files'.padStart(8)}${'bytes'.padStart(12)}`,
    );
    for (const t of s.tables)
      lines.push(
        `  ${t.table.padEnd(18)}${count(t.in).padStart(12)}${count(t.spooled).padStart(12)}${count(t.files).padStart(8)}${formatBytes(t.bytes).padStart(12)}`,
      );
  }
  return `${lines.join('\n')}\n`;
}

/** Runs the command; exit code 0 when the agent answers and is ready, 1 otherwise. */
export async function status(argv: string[], io: { out: Out } = { out: process.stdout }): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:9464' },
      json: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '5' },
    },
  });
  if (positionals.length) throw new UsageError(`status takes no argument '${positionals[0]}' (use --url)`);
  let url: URL;
  try {
    url = new URL(values.url);
  } catch {
    throw new UsageError(`--url '${values.url}' is not a URL`);
  }
  const timeoutMs = Number(values.timeout) * 1000;
  if (!(timeoutMs > 0)) throw new UsageError('--timeout takes a number of seconds');
  const s = await readStatus(url.toString(), timeoutMs);
  io.out.write(values.json ? `${JSON.stringify(s, null, 2)}\n` : formatStatus(s));
  return s.reachable && s.ready ? 0 : 1;
}

// How long data takes to get from a request's end to each place it lands:
// the agent's Parquet object (its file's modification time: the local store
// renames a finished file into place), the provisional Gold tier (the first
// streaming pass that produced the path) and the final tier (when its window
// was first finalized). Simulated time runs in real time in these runs
// (`runCluster` starts it a few seconds after the call), so a truth or record
// time and a wall-clock time can be subtracted.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import * as pw from 'parquet-wasm';
import type { TruthRequest } from '../truth.ts';
import type { Row } from './score.ts';

export interface Percentiles {
  readonly n: number;
  /** Milliseconds; NaN when n is 0. */
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

/** Nearest-rank percentiles of `values` (any order). */
export function percentiles(values: readonly number[]): Percentiles {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  const at = (p: number) => (v.length ? v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))]! : NaN);
  return { n: v.length, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: v.length ? v[v.length - 1]! : NaN };
}

function* parquetFiles(dir: string): Generator<string> {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* parquetFiles(p);
    else if (e.name.endsWith('.parquet') && !e.name.startsWith('.')) yield p;
  }
}

export interface LandedFile {
  readonly path: string;
  readonly bytes: number;
  /** When the object landed (the store's rename), epoch ms. */
  readonly landedMs: number;
  /** Columns asked for, one value per row (timestamps as epoch ms). */
  readonly columns: Record<string, unknown[]>;
}

/**
 * Every object of `table` under a landing directory laid out like the bucket
 * (`<landing>/<prefix>/v1/<table>/…`), with the requested columns.
 */
export function* landedFiles(
  landing: string,
  table: string,
  columns: readonly string[],
  prefix = 'hoptrace',
): Generator<LandedFile> {
  for (const path of parquetFiles(join(landing, prefix, 'v1', table))) {
    const st = statSync(path);
    const t = tableFromIPC(pw.readParquet(readFileSync(path)).intoIPCStream());
    const out: Record<string, unknown[]> = {};
    for (const c of columns) {
      const col = t.getChild(c);
      out[c] = col ? [...col] : [];
    }
    yield { path, bytes: st.size, landedMs: st.mtimeMs, columns: out };
  }
}

/** Landing latency of every row of `table`: object landed − the row's `event_time` (its end), ms. */
export function recordLandingLatencies(landing: string, table: string): number[] {
  const out: number[] = [];
  for (const f of landedFiles(landing, table, ['event_time']))
    for (const t of f.columns.event_time!) if (typeof t === 'number') out.push(f.landedMs - t);
  return out;
}

export interface Freshness {
  /** Request end (truth) → the object holding its ingress record landed. */
  readonly landed: Percentiles;
  /** Request end → the first streaming pass that wrote its provisional path. */
  readonly provisional: Percentiles;
  /** Request end → its window was first finalized. */
  readonly final: Percentiles;
}

const ms = (v: unknown) => (typeof v === 'string' ? Date.parse(v) : Number.NaN);

/** The truth request a lakehouse row (request id, ingress pod, end time) stands for. */
export function truthIndex(
  truth: readonly TruthRequest[],
): (requestId: unknown, pod: unknown, endMs: number) => TruthRequest | undefined {
  const byKey = new Map<string, TruthRequest[]>();
  for (const t of truth) {
    const k = `${t.request_id}\u0000${t.ingress.pod}`;
    byKey.set(k, [...(byKey.get(k) ?? []), t]);
  }
  return (requestId, pod, endMs) => {
    const c = byKey.get(`${String(requestId)}\u0000${String(pod)}`);
    if (!c) return undefined;
    // A re-used request id on the same pod: the request ending nearest.
    return c.reduce((best, t) =>
      Math.abs(Date.parse(t.end) - endMs) < Math.abs(Date.parse(best.end) - endMs) ? t : best,
    );
  };
}

export function measureFreshness(
  truth: readonly TruthRequest[],
  landing: string,
  lake: { readonly firstSeen: readonly Row[]; readonly paths: readonly Row[]; readonly windows: readonly Row[] },
): Freshness {
  const find = truthIndex(truth);
  const landed: number[] = [];
  for (const f of landedFiles(landing, 'http_requests', ['event_time', 'request_id', 'pod', 'role'])) {
    const { event_time: et, request_id: rid, pod, role } = f.columns;
    for (let i = 0; i < (et?.length ?? 0); i++) {
      if (role![i] !== 'ingress' && role![i] !== 'gateway') continue;
      const t = find(rid![i], pod![i], et![i] as number);
      if (t) landed.push(f.landedMs - Date.parse(t.end));
    }
  }
  const provisional: number[] = [];
  for (const p of lake.firstSeen) {
    const t = find(p.request_id, p.ingress_pod, ms(p.end_time));
    if (t) provisional.push(ms(p.computed_at) - Date.parse(t.end));
  }
  const finalizedAt = new Map(lake.windows.map((w) => [ms(w.window_start), ms(w.first_finalized_at)]));
  const final: number[] = [];
  for (const p of lake.paths) {
    const t = find(p.request_id, p.ingress_pod, ms(p.end_time));
    const at = finalizedAt.get(ms(p.window_start));
    if (t && at !== undefined) final.push(at - Date.parse(t.end));
  }
  return { landed: percentiles(landed), provisional: percentiles(provisional), final: percentiles(final) };
}

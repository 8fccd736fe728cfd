// Replays a node's files as they were written: the simulator writes each
// container log, Hubble export file and Calico flow log whole, up front; an
// agent tailing them then reads minutes of traffic at once, before it
// happened. The replayer appends each line to a file of the same path under
// another root when the wall clock reaches the time the node wrote it (its
// timestamp less the node's clock skew), so the agent tails growing files as
// on a real node. Kubelet rotation is not replayed (each file grows on its
// own): keep `--log-max-size` large. Compressed rotations are left out, as
// the agent cannot tail them.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

export interface ReplayFile {
  /** Path relative to the node's root. */
  readonly rel: string;
  readonly lines: string[];
  /** When each line is due, epoch ms (non-decreasing). */
  readonly dueMs: number[];
  next: number;
}

const RFC3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z/;

/** Epoch ms of an RFC 3339 UTC time with up to nanoseconds (NaN when it is not one). */
export function rfc3339Ms(s: string): number {
  const m = RFC3339.exec(s);
  if (!m) return Number.NaN;
  return Date.parse(`${m[1]}Z`) + Number(`0.${m[2] ?? '0'}`) * 1000;
}

/** The time a node stamped a line: CRI's leading timestamp, Hubble's `time`, Calico's `end_time` (s). */
export function lineTimeMs(rel: string, line: string): number {
  if (rel.startsWith('var/log/pods/')) return rfc3339Ms(line);
  if (rel.includes('/hubble/')) return rfc3339Ms(/"time":"([^"]+)"/.exec(line)?.[1] ?? '');
  const calico = /"end_time":(\d+)/.exec(line);
  return calico ? Number(calico[1]) * 1000 : Number.NaN;
}

function* walk(dir: string): Generator<string> {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else yield p;
  }
}

/** The node's tailed files (container logs, Hubble export, Calico flow logs) under its root. */
export function loadNodeFiles(nodeRoot: string, skewUs: number): ReplayFile[] {
  const out: ReplayFile[] = [];
  const dirs = ['var/log/pods', 'var/run/cilium/hubble', 'var/log/calico/flowlogs'];
  for (const d of dirs)
    for (const path of walk(join(nodeRoot, d))) {
      if (path.endsWith('.gz')) continue;
      const rel = relative(nodeRoot, path);
      const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
      const dueMs: number[] = [];
      let last = 0;
      for (const l of lines) {
        // A line without a readable time (none in the simulator's formats) goes with the one before it.
        const t = lineTimeMs(rel, l) - skewUs / 1000;
        last = Number.isFinite(t) ? Math.max(last, t) : last;
        dueMs.push(last);
      }
      out.push({ rel, lines, dueMs, next: 0 });
    }
  return out;
}

export interface ReplayProgress {
  readonly lines: number;
  /** Largest delay of a line written after `sinceMs` past its due time (the replayer's own lag). */
  readonly behindMs: number;
}

/** Creates the files, empty, under `liveRoot`, so the agent finds them from its start. */
export function createLiveFiles(files: readonly ReplayFile[], liveRoot: string): void {
  for (const f of files) {
    mkdirSync(dirname(join(liveRoot, f.rel)), { recursive: true });
    writeFileSync(join(liveRoot, f.rel), '');
  }
}

/** Appends every line due by `nowMs`; lines due before `sinceMs` do not count towards `behindMs`. */
export function writeDue(
  files: readonly ReplayFile[],
  liveRoot: string,
  nowMs: number,
  sinceMs: number,
): ReplayProgress {
  let lines = 0;
  let behindMs = 0;
  for (const f of files) {
    let j = f.next;
    while (j < f.lines.length && f.dueMs[j]! <= nowMs) j++;
    if (j === f.next) continue;
    if (f.dueMs[f.next]! >= sinceMs) behindMs = Math.max(behindMs, nowMs - f.dueMs[f.next]!);
    appendFileSync(join(liveRoot, f.rel), `${f.lines.slice(f.next, j).join('\n')}\n`);
    lines += j - f.next;
    f.next = j;
  }
  return { lines, behindMs };
}

/** Replays until every line is written (or `signal` aborts), checking every `tickMs`. */
export async function replayFiles(
  files: readonly ReplayFile[],
  liveRoot: string,
  opts: { readonly sinceMs: number; readonly tickMs?: number; readonly signal?: AbortSignal },
): Promise<ReplayProgress> {
  const tick = opts.tickMs ?? 100;
  let lines = 0;
  let behindMs = 0;
  while (files.some((f) => f.next < f.lines.length) && !opts.signal?.aborted) {
    const now = Date.now();
    const p = writeDue(files, liveRoot, now, opts.sinceMs);
    lines += p.lines;
    behindMs = Math.max(behindMs, p.behindMs);
    await new Promise((r) => setTimeout(r, Math.max(0, tick - (Date.now() - now))));
  }
  return { lines, behindMs };
}

// Follows a set of files the way a node log shipper must: through rename and
// copytruncate rotation, deletion while open and inode reuse, finishing a
// rotated file before its successor, with bounded descriptors and buffers and
// a per-file read budget so one noisy file cannot starve the others.
//
// Positions are committed only through the pipeline's acknowledgement: a
// file's checkpoint moves when every record read before it is in a committed
// spool file, and it is written in the same atomic state write. After a crash
// the tailer resumes exactly there; a record is never skipped, and the records
// it reads again carry the same ids (node, file identity, offset).
import type { Stats } from 'node:fs';
import { type FileHandle, glob, open, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, matchesGlob } from 'node:path';
import type { TableName } from '../../contract/generated.ts';
import { RateLimitedLog } from '../../ops/rate-limited-log.ts';
import { OrderedCommits } from '../../pipeline/ordered-commits.ts';
import type { SourceContext, SourceLag, TableRecord } from '../../pipeline/source.ts';
import type { TailOptionsConfig } from './config.ts';
import { createDecoder, type LineDecoder, type LineFormat, type LogLine } from './decoders.ts';
import { LineSplitter } from './framing.ts';
import { endOfLastLine, type Head, headMatches, readHead } from './identity.ts';

export interface TailSelection<M> {
  readonly meta: M;
  /** Framing of the file; defaults to the tailer's `format`. */
  readonly format?: LineFormat;
}

/** What a consumer sees of a file. */
export interface TailedFile<M> {
  /** Path it was last found at (a rotated file's new name, or its old one once deleted). */
  readonly path: string;
  readonly meta: M;
  readonly dev: number;
  readonly ino: number;
  /** Hash of the first line: with dev and ino, the file's identity in record ids. */
  readonly head: string;
}

export interface TailerOptions<M> {
  /** The source's name: checkpoint key, metric and log label. */
  readonly name: string;
  /** Table the source writes, for counting the lines it could not decode. */
  readonly table: TableName;
  /** Absolute glob patterns (`*`, `**`, `?`, `[…]`, `{a,b}`). */
  readonly include: readonly string[];
  readonly exclude?: readonly string[];
  readonly format: LineFormat;
  /** Decides whether a discovered file is followed (undefined: ignored). Called once per file identity. */
  select(path: string, realPath: string): TailSelection<M> | undefined;
  /** Maps one read's decoded lines of a file into records; it must not throw (a throw drops those lines, counted). */
  consume(file: TailedFile<M>, lines: readonly LogLine[]): TableRecord[];
  readonly startAt: 'end' | 'beginning';
  readonly pollIntervalMs: number;
  readonly discoverIntervalMs: number;
  readonly rotateWaitMs: number;
  readonly maxOpenFiles: number;
  readonly maxLineBytes: number;
  readonly readBufferBytes: number;
  readonly readBudgetBytes: number;
  readonly fingerprintBytes: number;
}

export function tailerOptionsFrom(config: TailOptionsConfig) {
  return {
    startAt: config.start_at,
    pollIntervalMs: config.poll_interval,
    discoverIntervalMs: config.discover_interval,
    rotateWaitMs: config.rotate_wait,
    maxOpenFiles: config.max_open_files,
    maxLineBytes: config.max_line_size,
    readBufferBytes: config.read_buffer_size,
    readBudgetBytes: config.read_budget,
    fingerprintBytes: config.fingerprint_size,
  } as const;
}

/** Checkpoint of one file. */
interface Saved {
  /** Head hash and length (absent while the first line was incomplete). */
  readonly h?: string;
  readonly l?: number;
  /** Offset of the first byte not yet durable. */
  readonly o: number;
  /** Identity (`dev:ino`) the records carry, when the content was first read from another file (copytruncate). */
  readonly id?: string;
}

/** The source's one checkpoint value: every file it follows, keyed `dev:ino`. */
interface TailState {
  v: 1;
  /** Set once the first discovery is committed: later, unknown files are new and read from the start. */
  started: boolean;
  files: Record<string, Saved>;
}

/**
 * One reading of one content. A truncation starts a new reading of the
 * file; a copytruncate copy takes over the reading of the content it copies,
 * so it continues where the original stopped, under the original's identity.
 */
class Reading<M> {
  head: Head | undefined;
  readPos: number;
  /** Identity of the content in record ids: the file it was first read from. */
  readonly idKey: string;
  readonly idDev: number;
  readonly idIno: number;
  readonly splitter: LineSplitter;
  readonly decoder: LineDecoder;
  readonly commits = new OrderedCommits<number>();
  lastTracked = -1;
  /** Newest position whose records are all durable. */
  committed: number | undefined;
  /** The file that reads it (undefined while a truncated original waits for its copy). */
  owner: Tracked<M> | undefined;
  orphanedAtMs = 0;
  orphanedIn = '';

  constructor(
    init: { readPos: number; head: Head | undefined; idKey: string },
    splitter: LineSplitter,
    decoder: LineDecoder,
  ) {
    this.readPos = init.readPos;
    this.head = init.head;
    this.idKey = init.idKey;
    const [dev, ino] = init.idKey.split(':');
    this.idDev = Number(dev);
    this.idIno = Number(ino);
    this.splitter = splitter;
    this.decoder = decoder;
  }

  /** First byte of a record not yet handed out: checkpoints never split a record. */
  committable(): number {
    let pos = this.readPos;
    const line = this.splitter.pendingStart();
    if (line !== undefined && line < pos) pos = line;
    const record = this.decoder.pendingStart();
    if (record !== undefined && record < pos) pos = record;
    return pos;
  }

  sameHead(head: Head | undefined): boolean {
    return !!head && !!this.head && head.hash === this.head.hash && head.length === this.head.length;
  }
}

class Tracked<M> implements TailedFile<M> {
  readonly key: string;
  readonly fileDev: number;
  readonly fileIno: number;
  readonly meta: M;
  readonly format: LineFormat;
  readonly stream: string;
  /** Files of one stream are read oldest first (rotated files before the live one). */
  order: number;
  /** Path that refers to this file now; undefined once rotated away or deleted. */
  livePath: string | undefined;
  lastPath: string;
  realPath: string;
  handle: FileHandle | undefined;
  size: number;
  lastGrowthMs: number;
  lastUsedMs = 0;
  mtimeMs = 0;
  /** Size changed since the head was last checked. */
  verify = false;
  /** Consecutive discoveries that did not find the file. */
  missed = 0;
  forgotten = false;
  reading: Reading<M>;

  constructor(
    init: { dev: number; ino: number; meta: M; format: LineFormat; path: string; realPath: string; size: number },
    reading: Reading<M>,
    nowMs: number,
  ) {
    this.fileDev = init.dev;
    this.fileIno = init.ino;
    this.key = `${init.dev}:${init.ino}`;
    this.meta = init.meta;
    this.format = init.format;
    this.livePath = init.path;
    this.lastPath = init.path;
    this.realPath = init.realPath;
    this.size = init.size;
    this.stream = streamOf(init.realPath);
    this.order = basename(init.realPath) === basename(this.stream) ? Number.POSITIVE_INFINITY : nowMs;
    this.lastGrowthMs = nowMs;
    this.reading = reading;
  }

  get path(): string {
    return this.lastPath;
  }
  get dev(): number {
    return this.reading.idDev;
  }
  get ino(): number {
    return this.reading.idIno;
  }
  get head(): string {
    return this.reading.head?.hash ?? '';
  }
  get owns(): boolean {
    return this.reading.owner === this;
  }

  /** Bytes it has to read (a copy waiting behind its original has none of its own). */
  unread(): number {
    return this.owns ? Math.max(0, this.size - this.reading.readPos) : 0;
  }
}

/**
 * Rotated names keep the live name as a prefix (`0.log.20240101-120000`,
 * `flows.log.1`); files sharing it form one stream, read oldest first.
 */
export function streamOf(path: string): string {
  return join(dirname(path), basename(path).replace(/\.(?:\d{8}-\d{6}|\d+)$/, ''));
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/** Whether an open file and a followed one start with the same `n` bytes. */
async function samePrefix<M>(handle: FileHandle, other: Tracked<M>, n: number): Promise<boolean> {
  if (n <= 0) return true;
  const a = Buffer.allocUnsafe(n);
  const b = Buffer.allocUnsafe(n);
  const ra = await handle.read(a, 0, n, 0);
  let rb: { bytesRead: number };
  try {
    const h = other.handle ?? (await open(other.realPath, 'r'));
    try {
      rb = await h.read(b, 0, n, 0);
    } finally {
      if (h !== other.handle) await h.close();
    }
  } catch {
    return false;
  }
  return ra.bytesRead === rb.bytesRead && a.subarray(0, ra.bytesRead).equals(b.subarray(0, rb.bytesRead));
}

/** Whether a followed file still starts with the head of its reading, and its size. */
async function startsWith<M>(f: Tracked<M>): Promise<{ matches: boolean; size?: number }> {
  const head = f.reading.head;
  try {
    const h = f.handle ?? (await open(f.realPath, 'r'));
    try {
      const { size } = await h.stat();
      return { matches: !head || (await headMatches(h, head)), size };
    } finally {
      if (h !== f.handle) await h.close();
    }
  } catch {
    return { matches: true };
  }
}

/** Lines handed to the consumer per call, so one emission stays a moderate batch. */
const LINES_PER_EMIT = 2000;
/** Physical lines may exceed the record bound by their framing (CRI header, JSON escapes). */
const FRAMING_SLACK = 64 * 1024;

export class Tailer<M> {
  private readonly options: TailerOptions<M>;
  private readonly stateKey: string;
  private readonly files = new Map<string, Tracked<M>>();
  private order: Tracked<M>[] = [];
  /** Readings of truncated files, kept a while for a copytruncate copy to take over. */
  private orphans: Reading<M>[] = [];
  private turn = 0;
  private openCount = 0;
  private waiting = 0;
  private nextDiscoverMs = 0;
  private state: TailState = { v: 1, started: false, files: {} };
  /** Checkpoints as found at start: a copy made while the agent was down continues its original's. */
  private loaded: Record<string, Saved> = {};
  private ctx!: SourceContext;
  private warn!: RateLimitedLog;
  private readonly buffer: Buffer;
  private newestEventUs: number | undefined;

  constructor(options: TailerOptions<M>) {
    this.options = options;
    this.stateKey = `tail:${options.name}`;
    this.buffer = Buffer.allocUnsafe(options.readBufferBytes);
  }

  lag(): SourceLag {
    let bytes = 0;
    for (const f of this.files.values()) bytes += f.unread();
    return { tailLagBytes: bytes, ...(this.newestEventUs === undefined ? {} : { newestEventUs: this.newestEventUs }) };
  }

  /** Lets the consumer report the event time of what it emitted (for `lag().newestEventUs`). */
  observeEventTime(us: number): void {
    if (this.newestEventUs === undefined || us > this.newestEventUs) this.newestEventUs = us;
  }

  async run(ctx: SourceContext, mode: 'follow' | 'drain'): Promise<void> {
    this.ctx = ctx;
    this.warn = new RateLimitedLog(ctx.logger, 60_000);
    const saved = ctx.checkpoint<TailState>(this.stateKey);
    // A copy: the committed value changes only through acknowledgements.
    if (saved && saved.v === 1) {
      this.state = { v: 1, started: saved.started, files: { ...saved.files } };
      this.loaded = { ...saved.files };
    }
    try {
      await this.discover(true);
      this.markStarted();
      for (;;) {
        if (ctx.signal.aborted) break;
        await ctx.waitForCapacity();
        if (ctx.signal.aborted) break;
        const now = Date.now();
        if (mode === 'follow' && now >= this.nextDiscoverMs) await this.discover(false);
        await this.poll(now, mode);
        const progressed = await this.readAll();
        if (mode === 'follow') await this.retire(Date.now());
        this.report();
        if (!progressed) {
          if (mode === 'drain') break;
          await sleep(this.options.pollIntervalMs, ctx.signal);
        }
      }
    } finally {
      for (const f of this.files.values()) await this.close(f);
      this.report();
    }
  }

  // --- discovery -------------------------------------------------------------

  private async discover(first: boolean): Promise<void> {
    this.nextDiscoverMs = Date.now() + this.options.discoverIntervalMs;
    const seen = new Set<string>();
    const paths = new Set<string>();
    for (const pattern of this.options.include) {
      try {
        for await (const p of glob(pattern)) paths.add(p);
      } catch (err) {
        this.warn.warn(
          `glob:${pattern}`,
          { pattern, err: (err as Error).message },
          'include pattern cannot be expanded',
        );
      }
    }
    const exclude = this.options.exclude ?? [];
    const found: { path: string; real: string; st: Stats; selection: TailSelection<M> }[] = [];
    for (const path of [...paths].sort()) {
      if (exclude.some((x) => matchesGlob(path, x))) continue;
      let real: string;
      let st: Stats;
      try {
        real = await realpath(path);
        st = await stat(real);
      } catch {
        continue; // gone between listing and stat; the next discovery decides
      }
      if (!st.isFile()) continue;
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) continue; // a link and its target
      seen.add(key);
      const known = this.files.get(key);
      if (known) {
        known.missed = 0;
        if (known.livePath !== path) {
          known.livePath = path;
          known.lastPath = path;
          known.realPath = real;
        }
        continue;
      }
      const selection = this.options.select(path, real);
      if (selection) found.push({ path, real, st, selection });
    }
    // Files with a checkpoint first, so a copy found beside its original is recognised as one.
    const hasEntry = (x: { st: Stats }) => (this.state.files[`${x.st.dev}:${x.st.ino}`] ? 0 : 1);
    found.sort((a, b) => hasEntry(a) - hasEntry(b));
    for (const x of found) await this.track(x.path, x.real, x.st, x.selection, first);
    for (const f of [...this.files.values()]) {
      if (seen.has(f.key)) continue;
      f.livePath = undefined;
      // Two misses, so a rename racing the directory listing is not taken for a deletion.
      if (!f.handle && ++f.missed >= 2) this.forget(f, 'vanished');
    }
    if (first) {
      // Checkpoints of files that disappeared while the agent was down.
      const stale = Object.keys(this.state.files).filter((k) => !this.files.has(k));
      if (stale.length)
        this.ctx.emit([], () => {
          for (const k of stale) if (!this.files.has(k)) delete this.state.files[k];
          this.ctx.setCheckpoint(this.stateKey, this.state);
        });
    }
  }

  private async track(
    path: string,
    real: string,
    st: Stats,
    selection: TailSelection<M>,
    first: boolean,
  ): Promise<void> {
    const { options } = this;
    const key = `${st.dev}:${st.ino}`;
    const format = selection.format ?? options.format;
    let handle: FileHandle;
    try {
      handle = await open(real, 'r');
    } catch (err) {
      this.ctx.metrics.drop('unknown', options.name, 'file_unreadable');
      this.warn.error(`open:${real}`, { path: real, err: (err as Error).message }, 'file cannot be opened; skipped');
      return;
    }
    let reading: Reading<M> | undefined;
    let how = 'new';
    try {
      const saved = this.state.files[key];
      if (saved && saved.o <= st.size) {
        const savedHead = saved.h && saved.l ? { hash: saved.h, length: saved.l } : undefined;
        // A different head: the inode was reused or the file rewritten while the agent was down.
        if (!savedHead || (await headMatches(handle, savedHead))) {
          reading = this.reading(saved.o, savedHead, saved.id ?? key, format);
          how = 'checkpoint';
        }
      }
      const head = reading?.head ?? (await readHead(handle, options.fingerprintBytes));
      if (!reading && head) {
        const copy = await this.continuation(handle, head, real, st.size, undefined);
        if (copy) ({ reading, how } = copy);
        else if (first) {
          // A copy made while the agent was down continues from its original's checkpoint,
          // unless that original is here and still holds the same content.
          const entry = Object.entries(this.loaded).find(
            ([k, e]) =>
              k !== key && e.h === head.hash && e.l === head.length && !this.files.get(k)?.reading.sameHead(head),
          );
          if (entry) {
            reading = this.reading(Math.min(entry[1].o, st.size), head, entry[1].id ?? entry[0], format);
            how = 'copy of a file read before the restart';
          }
        }
      }
      if (!reading) {
        const readPos =
          !this.state.started && options.startAt === 'end'
            ? await endOfLastLine(handle, st.size, Math.max(options.maxLineBytes, options.fingerprintBytes))
            : 0;
        reading = this.reading(readPos, head, key, format);
      }
    } finally {
      await handle.close();
    }
    const f = new Tracked(
      { dev: st.dev, ino: st.ino, meta: selection.meta, format, path, realPath: real, size: st.size },
      reading,
      Date.now(),
    );
    f.mtimeMs = st.mtimeMs;
    // Rotated files found at the first start are ordered by age among themselves.
    if (f.order !== Number.POSITIVE_INFINITY) f.order = st.mtimeMs;
    if (!reading.owner) reading.owner = f;
    this.files.set(key, f);
    this.order.push(f);
    if (f.owns && (first || how !== 'new' || reading.readPos > 0)) this.commitPosition(f);
    this.ctx.logger.debug({ path, readPos: reading.readPos, how }, 'following file');
  }

  /**
   * copytruncate: a file whose content is a copy of content being read
   * continues that reading — behind its original while the original still
   * has it, or in its place once the original was truncated. Copies are made
   * beside their original.
   */
  private async continuation(
    handle: FileHandle,
    head: Head,
    real: string,
    size: number,
    self: Tracked<M> | undefined,
  ): Promise<{ reading: Reading<M>; how: string } | undefined> {
    const dir = dirname(real);
    let original = [...this.files.values()].find(
      (f) => f !== self && f.owns && !f.forgotten && f.reading.sameHead(head) && dirname(f.realPath) === dir,
    );
    // Files that merely start alike (a common header line) are not copies: compare more.
    if (original && !(await samePrefix(handle, original, Math.min(size, original.size, 64 * 1024)))) {
      // Unless the original was truncated since the last poll: then its reading passes to the copy.
      const now = await startsWith(original);
      if (now.size !== undefined && !now.matches) this.truncated(original, now.size);
      original = undefined;
    }
    if (original) return { reading: original.reading, how: 'copy of a file being read' };
    const orphan = this.orphans.find((r) => r.sameHead(head) && r.orphanedIn === dir);
    if (!orphan) return undefined;
    this.orphans = this.orphans.filter((r) => r !== orphan);
    return { reading: orphan, how: 'copy of a truncated file' };
  }

  private reading(readPos: number, head: Head | undefined, idKey: string, format: LineFormat): Reading<M> {
    const slack = format === 'raw' ? 0 : FRAMING_SLACK;
    return new Reading<M>(
      { readPos, head, idKey },
      new LineSplitter(this.options.maxLineBytes + slack),
      createDecoder(format, this.options.maxLineBytes),
    );
  }

  private markStarted(): void {
    if (this.state.started) return;
    this.ctx.emit([], () => {
      this.state.started = true;
      this.ctx.setCheckpoint(this.stateKey, this.state);
    });
  }

  // --- rotation --------------------------------------------------------------

  private async poll(nowMs: number, mode: 'follow' | 'drain'): Promise<void> {
    for (const f of [...this.files.values()]) {
      let size: number | undefined;
      let mtimeMs = f.mtimeMs;
      if (f.livePath !== undefined) {
        let st: Stats | undefined;
        try {
          st = await stat(f.realPath);
        } catch {
          st = undefined;
        }
        if (!st || st.ino !== f.fileIno || st.dev !== f.fileDev) {
          // Rotated away (rename) or deleted: the next discovery finds where it went.
          this.ctx.metrics.tailRotations.inc({ source: this.options.name, kind: st ? 'rename' : 'delete' });
          f.livePath = undefined;
          if (f.order === Number.POSITIVE_INFINITY) f.order = nowMs;
          this.nextDiscoverMs = 0;
          if (st && mode === 'follow') await this.successor(f, st);
        } else {
          size = st.size;
          mtimeMs = st.mtimeMs;
        }
      }
      if (size === undefined && f.handle) {
        try {
          const st = await f.handle.stat();
          size = st.size;
          mtimeMs = st.mtimeMs;
        } catch {
          size = undefined;
        }
      }
      if (size === undefined) continue;
      if (f.owns) {
        if (size < f.reading.readPos) this.truncated(f, size);
        // Growth, or a rewrite in place that kept the size: the head tells which.
        else if (size !== f.size || mtimeMs !== f.mtimeMs) f.verify = f.reading.head !== undefined;
      }
      f.mtimeMs = mtimeMs;
      if (size > f.size) f.lastGrowthMs = nowMs;
      f.size = size;
    }
    const expired = nowMs - Math.max(3 * this.options.discoverIntervalMs, this.options.rotateWaitMs, 10_000);
    this.orphans = this.orphans.filter((r) => r.orphanedAtMs >= expired);
  }

  /** The path of a rotated file now holds its successor; follow it at once, from its start. */
  private async successor(prev: Tracked<M>, st: Stats): Promise<void> {
    const key = `${st.dev}:${st.ino}`;
    if (this.files.has(key) || !st.isFile()) return;
    const selection = this.options.select(prev.lastPath, prev.realPath);
    if (!selection) return;
    await this.track(prev.lastPath, prev.realPath, st, selection, false);
  }

  /** The file starts over (copytruncate, or rewritten in place): a new reading from its start. */
  private truncated(f: Tracked<M>, size: number): void {
    this.ctx.metrics.tailRotations.inc({ source: this.options.name, kind: 'truncate' });
    this.ctx.logger.debug(
      { path: f.path, size, readPos: f.reading.readPos },
      'file truncated; reading it from the start',
    );
    this.release(f);
    f.reading = this.reading(0, undefined, f.key, f.format);
    f.reading.owner = f;
    f.verify = false;
    f.size = size;
  }

  /** Hands the file's reading to a copy waiting behind it, or keeps it a while for one to appear. */
  private release(f: Tracked<M>): void {
    const old = f.reading;
    if (old.owner !== f) return;
    const copy = [...this.files.values()].find((g) => g !== f && g.reading === old && !g.forgotten);
    old.owner = copy;
    if (!copy) {
      old.orphanedAtMs = Date.now();
      old.orphanedIn = dirname(f.realPath);
      this.orphans = [...this.orphans.slice(-15), old];
    }
  }

  /** Closes and forgets rotated or deleted files once read to the end and quiet for rotate_wait. */
  private async retire(nowMs: number): Promise<void> {
    for (const f of [...this.files.values()]) {
      if (f.livePath !== undefined || !f.handle || !f.owns || f.unread() > 0) continue;
      if (nowMs - f.lastGrowthMs < this.options.rotateWaitMs) continue;
      let nlink = 1;
      try {
        nlink = (await f.handle.stat()).nlink;
      } catch {
        nlink = 0;
      }
      // The writer will not come back: the unfinished line and partial records are complete.
      const r = f.reading;
      const lines: LogLine[] = [];
      r.splitter.flush(this.sinkInto(r, lines));
      r.decoder.flush(lines);
      if (lines.length) this.emit(f, lines);
      await this.close(f);
      // Renamed to a name outside the globs: dropped from memory, but its
      // checkpoint stays until a discovery has missed it twice.
      if (nlink === 0) this.forget(f, 'deleted');
    }
  }

  private forget(f: Tracked<M>, why: string): void {
    if (f.forgotten) return;
    const lost = f.unread();
    if (lost > 0) {
      this.ctx.metrics.tailBytesUnreadLost.inc({ source: this.options.name }, lost);
      this.warn.warn(`lost:${f.key}`, { path: f.path, bytes: lost }, 'file disappeared before it was read to the end');
    }
    const owned = f.owns;
    if (owned) {
      const copy = [...this.files.values()].find((g) => g !== f && g.reading === f.reading && !g.forgotten);
      f.reading.owner = copy;
    }
    f.forgotten = true;
    if (f.handle) void this.close(f);
    this.files.delete(f.key);
    this.order = this.order.filter((x) => x !== f);
    const head = owned ? f.reading.head?.hash : undefined;
    this.ctx.logger.debug({ path: f.path, why }, 'file no longer followed');
    this.ctx.emit([], () => {
      const entry = this.state.files[f.key];
      if (entry && !this.files.has(f.key) && (entry.h === undefined || entry.h === head || !owned)) {
        delete this.state.files[f.key];
        this.ctx.setCheckpoint(this.stateKey, this.state);
      }
    });
  }

  // --- reading ---------------------------------------------------------------

  private async readAll(): Promise<boolean> {
    const files = this.order;
    if (!files.length) return false;
    let progressed = false;
    this.waiting = 0;
    // A file waits while an older file of its stream still has data it can read.
    const oldestUnread = new Map<string, number>();
    for (const f of files)
      if (
        f.unread() > 0 &&
        (f.handle || f.livePath !== undefined) &&
        f.order < (oldestUnread.get(f.stream) ?? Infinity)
      )
        oldestUnread.set(f.stream, f.order);
    const start = this.turn++ % files.length;
    for (let i = 0; i < files.length; i++) {
      if (this.ctx.signal.aborted) break;
      const f = files[(start + i) % files.length]!;
      if (f.forgotten || (f.unread() === 0 && !(f.verify && f.owns))) continue;
      if ((oldestUnread.get(f.stream) ?? f.order) < f.order) continue;
      await this.ctx.waitForCapacity();
      if (await this.readTurn(f)) progressed = true;
    }
    return progressed;
  }

  private async readTurn(f: Tracked<M>): Promise<boolean> {
    if (!(await this.ensureOpen(f))) return false;
    const handle = f.handle!;
    f.lastUsedMs = Date.now();
    let r = f.reading;
    try {
      if (f.verify && r.head) {
        f.verify = false;
        if (!(await headMatches(handle, r.head))) {
          this.truncated(f, f.size);
          r = f.reading;
        }
      }
      if (!r.head) {
        r.head = await readHead(handle, this.options.fingerprintBytes);
        if (!r.head) return false; // no complete first line yet, so no complete record either
        // Rewritten in place with a copy of content being read (copytruncate onto an existing name).
        if (r.readPos === 0 && r.lastTracked === -1) {
          const copy = await this.continuation(handle, r.head, f.realPath, f.size, f);
          if (copy) {
            f.reading = copy.reading;
            copy.reading.owner ??= f;
            this.ctx.logger.debug({ path: f.path, how: copy.how }, 'file continues another reading');
            if (!f.owns) return false;
            r = f.reading;
          }
        }
      }
      let budget = this.options.readBudgetBytes;
      let lines: LogLine[] = [];
      const sink = this.sinkInto(r, lines);
      let progressed = false;
      let bytes = 0;
      while (budget > 0) {
        const want = Math.min(this.buffer.length, budget);
        const { bytesRead } = await handle.read(this.buffer, 0, want, r.readPos);
        if (bytesRead === 0 || f.reading !== r) break;
        const at = r.readPos;
        r.readPos += bytesRead;
        r.splitter.push(this.buffer.subarray(0, bytesRead), at, sink);
        budget -= bytesRead;
        bytes += bytesRead;
        progressed = true;
        if (lines.length >= LINES_PER_EMIT) {
          this.emit(f, lines);
          lines = [];
          sink.retarget(lines);
        }
        if (bytesRead < want) break;
      }
      if (r.readPos > f.size) f.size = r.readPos;
      if (bytes) this.ctx.metrics.tailBytesRead.inc({ source: this.options.name }, bytes);
      if (progressed) this.emit(f, lines);
      return progressed;
    } catch (err) {
      this.warn.warn(`read:${f.key}`, { path: f.path, err: (err as Error).message }, 'file read failed; retrying');
      await this.close(f);
      return false;
    }
  }

  private sinkInto(r: Reading<M>, initial: LogLine[]) {
    let out = initial;
    const decoder = r.decoder;
    const sink = (buf: Buffer, start: number, end: number, offset: number, cut: boolean) =>
      decoder.decode(buf, start, end, offset, cut, out);
    return Object.assign(sink, {
      retarget(next: LogLine[]) {
        out = next;
      },
    });
  }

  private emit(f: Tracked<M>, lines: LogLine[]): void {
    const { ctx, options } = this;
    const r = f.reading;
    this.countDecoding(r);
    let records: TableRecord[] = [];
    if (lines.length) {
      ctx.metrics.tailRecords.inc({ source: options.name, format: r.decoder.resolved() }, lines.length);
      try {
        records = options.consume(f, lines);
      } catch (err) {
        ctx.metrics.drop(options.table, options.name, 'parse_failed', lines.length);
        this.warn.error(`consume:${options.name}`, { path: f.path, err }, 'lines could not be mapped; dropped');
      }
    }
    const position = r.committable();
    if (records.length === 0 && position === r.lastTracked) return;
    r.lastTracked = position;
    this.acknowledge(r, position, records);
  }

  private commitPosition(f: Tracked<M>): void {
    const r = f.reading;
    const position = r.committable();
    r.lastTracked = position;
    this.acknowledge(r, position, []);
  }

  /** Emits `records`; once they and everything read before them are durable, the position is checkpointed. */
  private acknowledge(r: Reading<M>, position: number, records: TableRecord[]): void {
    const ack = r.commits.track(position);
    this.ctx.emit(records, () => {
      const committed = ack();
      if (committed === undefined) return;
      r.committed = committed;
      // The file reading the content now holds the checkpoint (a copy takes it over from its original).
      const owner = r.owner;
      if (!owner || owner.forgotten || owner.reading !== r) return;
      const head = r.head;
      this.state.files[owner.key] = {
        ...(head ? { h: head.hash, l: head.length } : {}),
        o: committed,
        ...(r.idKey !== owner.key ? { id: r.idKey } : {}),
      };
      this.ctx.setCheckpoint(this.stateKey, this.state);
    });
  }

  private countDecoding(r: Reading<M>): void {
    const c = r.decoder.counts;
    const { metrics } = this.ctx;
    const { name, table } = this.options;
    if (c.invalid) {
      metrics.drop(table, name, 'invalid_container_line', c.invalid);
      this.warn.warn(`invalid:${name}`, { count: c.invalid }, 'lines without valid CRI or Docker framing dropped');
      c.invalid = 0;
    }
    if (c.tooLong) {
      metrics.drop(table, name, 'oversized_container_line', c.tooLong);
      c.tooLong = 0;
    }
    if (c.truncated) {
      metrics.tailRecordsTruncated.inc({ source: name }, c.truncated);
      c.truncated = 0;
    }
  }

  // --- descriptors -----------------------------------------------------------

  private async ensureOpen(f: Tracked<M>): Promise<boolean> {
    if (f.handle) return true;
    if (f.livePath === undefined) return false; // cannot be reopened by path
    if (this.openCount >= this.options.maxOpenFiles && !(await this.closeIdle())) {
      this.waiting++;
      return false;
    }
    let handle: FileHandle;
    try {
      handle = await open(f.realPath, 'r');
      const st = await handle.stat();
      if (st.ino !== f.fileIno || st.dev !== f.fileDev) {
        await handle.close();
        return false; // replaced since the last poll; the next poll sorts it out
      }
    } catch {
      return false;
    }
    f.handle = handle;
    this.openCount++;
    return true;
  }

  /** Closes the least recently used file that is read to its end and can be reopened by path. */
  private async closeIdle(): Promise<boolean> {
    let victim: Tracked<M> | undefined;
    for (const f of this.files.values())
      if (f.handle && f.livePath !== undefined && f.unread() === 0 && (!victim || f.lastUsedMs < victim.lastUsedMs))
        victim = f;
    if (!victim) return false;
    await this.close(victim);
    return true;
  }

  private async close(f: Tracked<M>): Promise<void> {
    const handle = f.handle;
    if (!handle) return;
    f.handle = undefined;
    this.openCount--;
    await handle.close().catch(() => undefined);
  }

  private report(): void {
    const { metrics } = this.ctx;
    const source = this.options.name;
    metrics.tailFilesOpen.set({ source }, this.openCount);
    metrics.tailFilesTracked.set({ source }, this.files.size);
    metrics.tailFilesWaiting.set({ source }, this.waiting);
    metrics.tailLagBytes.set({ source }, this.lag().tailLagBytes ?? 0);
  }
}

// The durable local spool between encoding and upload. A spool file is a
// finished Parquet object waiting for the store; once it is renamed into
// place the records in it survive a crash, and sources may commit their
// positions. The spool owns the epoch and the per-table sequence numbers that
// make object keys deterministic, and it keeps the sources' checkpoints in
// the same state file, so a position is durable exactly when the file holding
// its records is: after a crash a source neither skips nor re-reads them.
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { formatSeq } from '../store/store.ts';
import { TEMP_PREFIX, writeFileDurably } from './durable-file.ts';

export interface SpoolFile {
  readonly path: string;
  readonly table: string;
  readonly hourStartUs: number;
  readonly epoch: string;
  readonly seq: number;
  readonly bytes: number;
  readonly createdAtMs: number;
  /** Newest event time in the file, epoch µs (unknown for files found at startup). */
  readonly newestEventUs?: number;
}

interface SpoolState {
  readonly epoch: string;
  readonly nextSeq: Record<string, number>;
  /** Source positions, committed in the same atomic write as the files that cover them. */
  readonly checkpoints: Record<string, unknown>;
}

const STATE_FILE = 'spool-state.json';
const FILES_DIR = 'ready';
// <table>.<hourStartUs>.<epoch>-<seq>.parquet
const FILE_NAME = /^([a-z0-9_]+)\.(-?\d+)\.([0-9a-z]+)-(\d{12})\.parquet$/;

export class SpoolFullError extends Error {}

export class Spool {
  readonly dir: string;
  readonly maxBytes: number;
  private state!: SpoolState;
  private readonly files = new Map<string, SpoolFile>();
  private totalBytes = 0;
  /** Uncommitted files found and discarded at open (their records are re-read). */
  discardedUncommitted = 0;
  private spaceWaiters: (() => void)[] = [];
  // Writes are serialised so sequence numbers are handed out without gaps.
  private writeChain: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, maxBytes: number) {
    this.dir = dir;
    this.maxBytes = maxBytes;
  }

  /**
   * Opens (or creates) a spool. The state file is the commit point: a file
   * the state does not yet cover was renamed into place but never committed
   * (the process died in between), was never uploaded, and the positions of
   * its records were not saved — so it is deleted and its pull-source records
   * are read again, under the same sequence number. Committed files are
   * picked up for upload. Temporary files are removed.
   */
  static async open(dir: string, maxBytes: number, now = Date.now()): Promise<Spool> {
    const spool = new Spool(dir, maxBytes);
    const filesDir = join(dir, FILES_DIR);
    await mkdir(filesDir, { recursive: true });
    let state: SpoolState | undefined;
    try {
      state = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as SpoolState;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new Error(`spool state ${join(dir, STATE_FILE)} is unreadable: ${(err as Error).message}`);
    }
    const nextSeq: Record<string, number> = { ...(state?.nextSeq ?? {}) };
    for (const name of await readdir(filesDir)) {
      const path = join(filesDir, name);
      if (name.startsWith(TEMP_PREFIX)) {
        await rm(path, { force: true });
        continue;
      }
      const m = FILE_NAME.exec(name);
      if (!m) continue;
      const info = await stat(path);
      const file: SpoolFile = {
        path,
        table: m[1]!,
        hourStartUs: Number(m[2]),
        epoch: m[3]!,
        seq: Number(m[4]),
        bytes: info.size,
        createdAtMs: info.mtimeMs,
      };
      if (file.epoch === state?.epoch && file.seq >= (nextSeq[file.table] ?? 1)) {
        await rm(path, { force: true });
        spool.discardedUncommitted++;
        continue;
      }
      spool.add(file);
    }
    spool.state = { epoch: state?.epoch ?? String(now), nextSeq, checkpoints: { ...(state?.checkpoints ?? {}) } };
    if (!state) await spool.persistState();
    return spool;
  }

  get epoch(): string {
    return this.state.epoch;
  }
  get bytes(): number {
    return this.totalBytes;
  }
  get fileCount(): number {
    return this.files.size;
  }
  get hasSpace(): boolean {
    return this.totalBytes < this.maxBytes;
  }
  /** Highest sequence number assigned for a table (0 when none). */
  lastSeq(table: string): number {
    return (this.state.nextSeq[table] ?? 1) - 1;
  }

  checkpoint<T>(key: string): T | undefined {
    return this.state.checkpoints[key] as T | undefined;
  }

  /**
   * Sets a source position in memory; it becomes durable with the next
   * committed file (or commitState), never before the records it covers.
   */
  setCheckpoint(key: string, value: unknown): void {
    this.state.checkpoints[key] = value;
  }

  /** Persists checkpoints that advanced without a new file (e.g. only invalid records). */
  commitState(): Promise<void> {
    const result = this.writeChain.then(() => this.persistState());
    this.writeChain = result.catch(() => undefined);
    return result;
  }

  /** Files waiting for upload, oldest first. */
  pending(): SpoolFile[] {
    return [...this.files.values()].sort((a, b) => a.createdAtMs - b.createdAtMs || a.seq - b.seq);
  }

  oldestAgeMs(now = Date.now()): number | undefined {
    let oldest: number | undefined;
    for (const f of this.files.values()) if (oldest === undefined || f.createdAtMs < oldest) oldest = f.createdAtMs;
    return oldest === undefined ? undefined : Math.max(0, now - oldest);
  }

  /** Resolves once the spool is below its byte bound. */
  waitForSpace(): Promise<void> {
    if (this.hasSpace) return Promise.resolve();
    return new Promise((resolve) => this.spaceWaiters.push(resolve));
  }

  /**
   * Makes one Parquet file durable and assigns it the table's next sequence
   * number. When this resolves, the file survives a crash.
   */
  write(
    table: string,
    hourStartUs: number,
    bytes: Uint8Array,
    options: { beforeCommit?: () => void; newestEventUs?: number } = {},
  ): Promise<SpoolFile> {
    const result = this.writeChain.then(() => this.writeNow(table, hourStartUs, bytes, options));
    this.writeChain = result.catch(() => undefined);
    return result;
  }

  private async writeNow(
    table: string,
    hourStartUs: number,
    bytes: Uint8Array,
    { beforeCommit, newestEventUs }: { beforeCommit?: () => void; newestEventUs?: number },
  ): Promise<SpoolFile> {
    const seq = this.state.nextSeq[table] ?? 1;
    const name = `${table}.${hourStartUs}.${this.state.epoch}-${formatSeq(seq)}.parquet`;
    const path = join(this.dir, FILES_DIR, name);
    await writeFileDurably(path, bytes);
    // Not committed until the state below is saved; see open().
    this.state.nextSeq[table] = seq + 1;
    // Sources move their positions now, so the same write persists them.
    beforeCommit?.();
    await this.persistState();
    const file: SpoolFile = {
      path,
      table,
      hourStartUs,
      epoch: this.state.epoch,
      seq,
      bytes: bytes.byteLength,
      createdAtMs: Date.now(),
      ...(newestEventUs === undefined ? {} : { newestEventUs }),
    };
    this.add(file);
    return file;
  }

  read(file: SpoolFile): Promise<Buffer> {
    return readFile(file.path);
  }

  /** Called once the store has the file. */
  async remove(file: SpoolFile): Promise<void> {
    await rm(file.path, { force: true });
    if (this.files.delete(file.path)) this.totalBytes -= file.bytes;
    if (this.hasSpace && this.spaceWaiters.length) {
      const waiters = this.spaceWaiters;
      this.spaceWaiters = [];
      for (const w of waiters) w();
    }
  }

  private add(file: SpoolFile): void {
    this.files.set(file.path, file);
    this.totalBytes += file.bytes;
  }

  private persistState(): Promise<void> {
    return writeFileDurably(join(this.dir, STATE_FILE), `${JSON.stringify(this.state)}\n`);
  }
}

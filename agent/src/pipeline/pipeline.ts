// The spine every source shares: validate → batch per (table, event hour) →
// encode → spool, with acknowledgements back to the sources once their
// records are committed, and backpressure when memory or the spool fill up.

import { TableBatch } from '../batch/table-batch.ts';
import { TABLES, type TableName } from '../contract/generated.ts';
import { hourStartUs, nowUs } from '../contract/time.ts';
import type { ColumnBatch } from '../encode/parquet-encoder.ts';
import type { Logger } from '../ops/logger.ts';
import type { AgentMetrics } from '../ops/metrics.ts';
import { RateLimitedLog } from '../ops/rate-limited-log.ts';
import type { Spool, SpoolFile } from '../spool/spool.ts';
import type { TableRecord } from './source.ts';

/** What the pipeline needs of the encoder (ParquetEncoder). */
export interface BatchEncoder {
  /** Encodes that may run at once. */
  readonly workers: number;
  /** A batch's columns → Parquet file; encodes may finish in any order. */
  encode(batch: ColumnBatch): Promise<Uint8Array>;
}

export interface BatchLimits {
  readonly maxRows: number;
  readonly maxBytes: number;
  readonly maxAgeMs: number;
  readonly maxOpen: number;
}

export interface PipelineOptions {
  readonly batch: BatchLimits;
  readonly bufferMaxBytes: number;
  /** Attempts to encode one batch before it is dropped as undecodable (a bug, not an outage). */
  readonly maxEncodeAttempts?: number;
}

/** One emission's outstanding batches; it is durable when none is left. */
interface Ticket {
  pending: number;
  sealed: boolean;
  readonly onDurable: (() => void) | undefined;
}

interface Pending {
  /** `table|hour`, the batch's key among the open ones. */
  readonly key: string;
  readonly batch: TableBatch;
  readonly tickets: Set<Ticket>;
  /** The emission that last appended here (saves a set lookup per record). */
  lastTicket: Ticket | undefined;
  /** Rows appended during the current emission, not yet added to the records_in counter. */
  acceptedUncounted: number;
  /** Parquet bytes once encoding started; undefined bytes: the batch could not be encoded. */
  encoded?: Promise<Uint8Array | undefined>;
}

interface TableStats {
  recordsIn: number;
  recordsSpooled: number;
  filesSpooled: number;
  bytesSpooled: number;
}

export interface TableProgressSnapshot {
  readonly table: TableName;
  readonly lastSeq: number;
  readonly flushedThroughUs: number;
  readonly recordsIn: number;
  readonly recordsSpooled: number;
  readonly recordsBuffered: number;
  /** Files and Parquet bytes this process spooled. */
  readonly filesSpooled: number;
  readonly bytesSpooled: number;
}

export class Pipeline {
  private readonly open = new Map<string, Pending>();
  /** Rolled batches in order; the head is being encoded and spooled. */
  private readonly queue: Pending[] = [];
  private readonly stats = new Map<TableName, TableStats>();
  private bufferBytes = 0;
  private pumping = false;
  private capacityWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  private readonly rejects: RateLimitedLog;
  private readonly options: PipelineOptions;
  private readonly spool: Spool;
  /** True from a failed spool write until the next one succeeds (the write is retried meanwhile). */
  spoolWritesFailing = false;
  private readonly encoder: BatchEncoder;
  private readonly metrics: AgentMetrics;
  private readonly logger: Logger;
  /** Called after every committed spool file (the uploader listens). */
  onSpooled: (file: SpoolFile) => void = () => {};

  constructor(options: PipelineOptions, spool: Spool, encoder: BatchEncoder, metrics: AgentMetrics, logger: Logger) {
    this.options = options;
    this.spool = spool;
    this.encoder = encoder;
    this.metrics = metrics;
    this.logger = logger;
    this.rejects = new RateLimitedLog(logger, 10_000);
  }

  get bufferedBytes(): number {
    return this.bufferBytes;
  }

  hasCapacity(): boolean {
    return this.bufferBytes < this.options.bufferMaxBytes && this.spool.hasSpace;
  }

  async waitForCapacity(): Promise<void> {
    while (!this.hasCapacity()) {
      if (!this.spool.hasSpace) await this.spool.waitForSpace();
      else await new Promise<void>((resolve) => this.capacityWaiters.push(resolve));
    }
  }

  /**
   * Accepts records regardless of capacity (pull sources wait for capacity
   * first; heartbeats are tiny and must not be lost). Invalid records are
   * dropped with a counted reason and do not hold up the acknowledgement.
   */
  accept(source: string, records: readonly TableRecord[], onDurable?: () => void): void {
    const ticket: Ticket = { pending: 0, sealed: false, onDurable };
    const touched = new Set<Pending>();
    let last: Pending | undefined;
    for (const record of records) {
      const pending = this.acceptOne(source, record, ticket, last);
      if (pending && pending !== last) {
        touched.add(pending);
        last = pending;
      }
    }
    // Counted per emission: a labelled prom-client inc per record costs more than the append.
    for (const pending of touched) {
      const counted = pending.acceptedUncounted;
      if (counted) {
        const table = pending.batch.schema.name as TableName;
        this.metrics.recordsIn.inc({ table, source }, counted);
        this.statsOf(table).recordsIn += counted;
        pending.acceptedUncounted = 0;
      }
    }
    ticket.sealed = true;
    if (ticket.pending === 0) ticket.onDurable?.();
    // Batches roll only between emissions, so a committed file holds whole
    // emissions and a source position never splits across a crash.
    const { maxRows, maxBytes } = this.options.batch;
    for (const pending of touched)
      if (this.open.get(pending.key) === pending && (pending.batch.rows >= maxRows || pending.batch.bytes >= maxBytes))
        this.roll(pending.key, pending);
    this.enforceOpenLimit();
    this.metrics.bufferBytes.set(this.bufferBytes);
  }

  /** For push sources: all or nothing, so a drop is one clear event. */
  offer(source: string, records: readonly TableRecord[]): boolean {
    if (this.hasCapacity()) {
      this.accept(source, records);
      return true;
    }
    const reason = this.spool.hasSpace ? 'buffer_full' : 'spool_full';
    for (const r of records) this.metrics.drop(r.table, source, reason);
    this.rejects.warn(`${source}:${reason}`, { source, reason }, 'pipeline full: push source records dropped');
    return false;
  }

  /** Rolls batches that reached their age; call about once a second. */
  tick(nowMs = Date.now()): void {
    for (const [key, pending] of this.open)
      if (nowMs - pending.batch.openedAtMs >= this.options.batch.maxAgeMs) this.roll(key, pending);
  }

  /** Rolls every open batch and resolves when all of them are committed to the spool. */
  async flushAll(): Promise<void> {
    for (const [key, pending] of this.open) this.roll(key, pending);
    await this.idle();
    await this.spool.commitState();
  }

  idle(): Promise<void> {
    if (!this.pumping && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  progress(): TableProgressSnapshot[] {
    const now = nowUs();
    const minBuffered = new Map<TableName, number>();
    const buffered = new Map<TableName, number>();
    for (const { batch } of [...this.open.values(), ...this.queue]) {
      const table = batch.schema.name as TableName;
      minBuffered.set(table, Math.min(minBuffered.get(table) ?? Number.POSITIVE_INFINITY, batch.minEventTimeUs));
      buffered.set(table, (buffered.get(table) ?? 0) + batch.rows);
    }
    return [...this.stats.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([table, s]) => {
        const min = minBuffered.get(table);
        return {
          table,
          lastSeq: this.spool.lastSeq(table),
          flushedThroughUs: min === undefined ? now : Math.min(now, min - 1),
          recordsIn: s.recordsIn,
          recordsSpooled: s.recordsSpooled,
          recordsBuffered: buffered.get(table) ?? 0,
          filesSpooled: s.filesSpooled,
          bytesSpooled: s.bytesSpooled,
        };
      });
  }

  /** Wakes pull sources waiting for room (the uploader calls this after freeing spool space). */
  notifyCapacity(): void {
    if (!this.hasCapacity() || this.capacityWaiters.length === 0) return;
    const waiters = this.capacityWaiters;
    this.capacityWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Appends one record; returns the batch it went to (undefined when dropped).
   * `last` is the previous record's batch: consecutive records of one table
   * and hour skip the key lookup.
   */
  private acceptOne(
    source: string,
    record: TableRecord,
    ticket: Ticket,
    last: Pending | undefined,
  ): Pending | undefined {
    const schema = TABLES[record.table];
    if (!schema) {
      this.metrics.drop(String(record.table), source, 'unknown_table');
      this.rejects.warn(
        `${source}:unknown_table`,
        { source, table: record.table },
        'record for an unknown table dropped',
      );
      return undefined;
    }
    const row = record.row as unknown as Readonly<Record<string, unknown>>;
    const eventUs = row.event_time as number;
    // The batch is chosen by event hour, so this column is checked before the others.
    if (!Number.isSafeInteger(eventUs))
      return this.reject(
        source,
        record.table,
        eventUs == null ? 'event_time: required' : `event_time: expected an integer, got ${String(eventUs)}`,
      );
    const hour = hourStartUs(eventUs);
    let pending: Pending | undefined;
    if (last && last.batch.schema === schema && last.batch.hourStartUs === hour) pending = last;
    else {
      const key = `${record.table}|${hour}`;
      pending = this.open.get(key);
      if (!pending) {
        const batch = new TableBatch(schema, hour, Date.now(), (column) =>
          this.metrics.valuesTruncated.inc({ table: schema.name, column }),
        );
        pending = { key, batch, tickets: new Set(), lastTicket: undefined, acceptedUncounted: 0 };
        this.open.set(key, pending);
      }
    }
    const before = pending.batch.bytes;
    // Validated as the values go in; an invalid row leaves the batch as it was.
    const problem = pending.batch.append(row, eventUs);
    if (problem) {
      if (pending.batch.rows === 0 && pending.tickets.size === 0) this.open.delete(pending.key);
      return this.reject(source, record.table, problem);
    }
    pending.acceptedUncounted++;
    this.bufferBytes += pending.batch.bytes - before;
    if (pending.lastTicket !== ticket) {
      pending.lastTicket = ticket;
      if (!pending.tickets.has(ticket)) {
        pending.tickets.add(ticket);
        ticket.pending++;
      }
    }
    return pending;
  }

  private reject(source: string, table: TableName, problem: string): undefined {
    this.metrics.drop(table, source, 'invalid_record');
    this.rejects.warn(`${source}:invalid`, { source, table, problem }, 'invalid record dropped');
    return undefined;
  }

  private statsOf(table: TableName): TableStats {
    let s = this.stats.get(table);
    if (!s) {
      s = { recordsIn: 0, recordsSpooled: 0, filesSpooled: 0, bytesSpooled: 0 };
      this.stats.set(table, s);
    }
    return s;
  }

  private enforceOpenLimit(): void {
    while (this.open.size > this.options.batch.maxOpen) {
      let oldest: [string, Pending] | undefined;
      for (const entry of this.open)
        if (!oldest || entry[1].batch.openedAtMs < oldest[1].batch.openedAtMs) oldest = entry;
      this.roll(oldest![0], oldest![1]);
    }
  }

  private roll(key: string, pending: Pending): void {
    this.open.delete(key);
    this.queue.push(pending);
    this.dispatch();
    void this.pump();
  }

  /**
   * Starts encoding the batches at the head of the queue, as many as the
   * encoder has workers. Encodes finish in any order; the pump commits them
   * strictly in queue order, so sequence numbers, checkpoints and
   * acknowledgements keep the order of a single encoder.
   */
  private dispatch(): void {
    const ahead = Math.min(this.queue.length, Math.max(1, this.encoder.workers));
    for (let i = 0; i < ahead; i++) {
      const pending = this.queue[i]!;
      pending.encoded ??= this.encodeBatch(pending.batch);
    }
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length) {
        this.dispatch();
        const head = this.queue[0]!;
        await this.spoolBatch(head);
        this.queue.shift();
        this.bufferBytes -= head.batch.bytes;
        this.metrics.bufferBytes.set(this.bufferBytes);
        this.notifyCapacity();
      }
    } finally {
      this.pumping = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Encodes one batch, retrying a failed encode; undefined when every attempt failed. */
  private async encodeBatch(batch: TableBatch): Promise<Uint8Array | undefined> {
    const table = batch.schema.name;
    const maxEncodeAttempts = this.options.maxEncodeAttempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      try {
        const bytes = await this.encoder.encode(batch.toColumns());
        this.metrics.encodeSeconds.observe({ table }, (performance.now() - started) / 1000);
        return bytes;
      } catch (err) {
        this.metrics.spoolErrors.inc({ table, stage: 'encode' });
        if (attempt >= maxEncodeAttempts) {
          this.logger.error({ err, table, rows: batch.rows }, 'batch could not be encoded; rows dropped');
          return undefined;
        }
        this.logger.warn({ err, table, attempt }, 'batch encoding failed; retrying');
      }
    }
  }

  /** Commits one encoded batch (the queue's head); retries the write until it is durable, backing off. */
  private async spoolBatch(pending: Pending): Promise<void> {
    const { batch, tickets } = pending;
    const table = batch.schema.name;
    const bytes = await pending.encoded!;
    if (!bytes) {
      // Retrying the same rows cannot succeed; account for them and move on
      // rather than stall every source behind this batch.
      this.metrics.drop(table, 'pipeline', 'encode_failed', batch.rows);
      this.release(tickets);
      return;
    }
    let delayMs = 500;
    for (;;) {
      // The spool bound is a disk quota: batches wait in memory (where the
      // buffer bound then pauses sources) rather than overrun it.
      await this.spool.waitForSpace();
      try {
        const file = await this.spool.write(table, batch.hourStartUs, bytes, {
          beforeCommit: () => this.release(tickets),
          newestEventUs: batch.maxEventTimeUs,
        });
        const stats = this.statsOf(table as TableName);
        stats.recordsSpooled += batch.rows;
        stats.filesSpooled++;
        stats.bytesSpooled += file.bytes;
        this.metrics.recordsSpooled.inc({ table }, batch.rows);
        this.metrics.filesSpooled.inc({ table });
        this.metrics.bytesSpooled.inc({ table }, file.bytes);
        this.onSpooled(file);
        this.spoolWritesFailing = false;
        return;
      } catch (err) {
        this.spoolWritesFailing = true;
        this.metrics.spoolErrors.inc({ table, stage: 'write' });
        this.logger.error({ err, table, dir: this.spool.dir, retryInMs: delayMs }, 'spool write failed; retrying');
        await new Promise((r) => setTimeout(r, delayMs));
        delayMs = Math.min(delayMs * 2, 30_000);
      }
    }
  }

  private release(tickets: Set<Ticket>): void {
    for (const t of tickets) {
      t.pending--;
      if (t.sealed && t.pending === 0) t.onDurable?.();
    }
    tickets.clear();
  }
}

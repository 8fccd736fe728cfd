// Moves committed spool files to the store, oldest first, a few at a time.
// A file leaves the spool only after the store has it; failures back off with
// jitter and retry for as long as it takes — spooled data is never given up.
import type { Logger } from '../ops/logger.ts';
import type { AgentMetrics } from '../ops/metrics.ts';
import { RateLimitedLog } from '../ops/rate-limited-log.ts';
import type { Spool, SpoolFile } from '../spool/spool.ts';
import { type ObjectStore, objectKey, StoreError } from './store.ts';

export interface UploaderOptions {
  readonly node: string;
  readonly prefix: string;
  readonly concurrency: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  /** Test hook: called after a successful put, before the spool file is removed. */
  readonly afterPut?: (file: SpoolFile, key: string) => void;
}

export class Uploader {
  private readonly inFlight = new Set<string>();
  private readonly retryAt = new Map<string, { at: number; delayMs: number }>();
  private wake: (() => void) | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private drainWaiters: (() => void)[] = [];
  private lastSuccessMs = 0;
  private consecutiveFailures = 0;
  private readonly failures: RateLimitedLog;
  private readonly options: UploaderOptions;
  private readonly spool: Spool;
  private readonly store: ObjectStore;
  private readonly metrics: AgentMetrics;
  private readonly logger: Logger;
  /** Called whenever spool space was freed. */
  onSpaceFreed: () => void = () => {};

  constructor(options: UploaderOptions, spool: Spool, store: ObjectStore, metrics: AgentMetrics, logger: Logger) {
    this.options = options;
    this.spool = spool;
    this.store = store;
    this.metrics = metrics;
    this.logger = logger;
    this.failures = new RateLimitedLog(logger, 30_000);
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** A new file is ready. */
  notify(): void {
    this.wake?.();
  }

  /** Highest sequence number such that it and every earlier one of the table are in the store. */
  uploadedSeq(table: string): number {
    let lowestWaiting = Number.POSITIVE_INFINITY;
    for (const f of this.spool.pending()) if (f.table === table && f.seq < lowestWaiting) lowestWaiting = f.seq;
    return lowestWaiting === Number.POSITIVE_INFINITY ? this.spool.lastSeq(table) : lowestWaiting - 1;
  }

  get failing(): boolean {
    return this.consecutiveFailures > 0;
  }

  get lastSuccessAtMs(): number {
    return this.lastSuccessMs;
  }

  /** Resolves once the spool is empty (or the uploader stops). */
  drained(): Promise<void> {
    if (this.spool.fileCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    for (const w of this.drainWaiters.splice(0)) w();
  }

  private async run(): Promise<void> {
    const running = new Set<Promise<void>>();
    while (!this.stopped) {
      const now = Date.now();
      let nextRetry = Number.POSITIVE_INFINITY;
      for (const file of this.spool.pending()) {
        if (running.size >= this.options.concurrency) break;
        if (this.inFlight.has(file.path)) continue;
        const retry = this.retryAt.get(file.path);
        if (retry && retry.at > now) {
          nextRetry = Math.min(nextRetry, retry.at);
          continue;
        }
        this.inFlight.add(file.path);
        const p = this.upload(file).finally(() => {
          this.inFlight.delete(file.path);
          running.delete(p);
          this.wake?.();
        });
        running.add(p);
      }
      this.updateGauges();
      if (this.spool.fileCount === 0) for (const w of this.drainWaiters.splice(0)) w();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(10, Math.min(1000, nextRetry - Date.now())));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    await Promise.allSettled(running);
  }

  private async upload(file: SpoolFile): Promise<void> {
    const key = objectKey({
      prefix: this.options.prefix,
      table: file.table,
      hourStartUs: file.hourStartUs,
      node: this.options.node,
      epoch: file.epoch,
      seq: file.seq,
    });
    const store = this.store.kind;
    const started = performance.now();
    try {
      const body = await this.spool.read(file);
      await this.store.put(key, body);
      this.metrics.uploads.inc({ store, result: 'ok' });
      this.metrics.uploadSeconds.observe({ store }, (performance.now() - started) / 1000);
      this.metrics.uploadBytes.inc({ store }, body.byteLength);
      if (file.newestEventUs !== undefined)
        this.metrics.landingLatency.observe(
          { table: file.table },
          Math.max(0, Date.now() / 1000 - file.newestEventUs / 1e6),
        );
      this.options.afterPut?.(file, key);
      await this.spool.remove(file);
      this.retryAt.delete(file.path);
      this.lastSuccessMs = Date.now();
      if (this.consecutiveFailures) this.logger.info({ store, key }, 'uploads recovered');
      this.consecutiveFailures = 0;
      this.onSpaceFreed();
    } catch (err) {
      const retryable = !(err instanceof StoreError) || err.retryable;
      this.consecutiveFailures++;
      this.metrics.uploads.inc({ store, result: retryable ? 'retryable_error' : 'fatal_error' });
      const prev = this.retryAt.get(file.path)?.delayMs;
      // A non-retryable error (denied, no bucket) still gets retried, slowly:
      // it is usually fixed by an operator, and the data must not be dropped.
      const base = retryable
        ? Math.min((prev ?? this.options.backoffInitialMs / 2) * 2, this.options.backoffMaxMs)
        : this.options.backoffMaxMs;
      const delayMs = Math.round(base * (0.8 + Math.random() * 0.4));
      this.retryAt.set(file.path, { at: Date.now() + delayMs, delayMs: base });
      this.failures.error(
        retryable ? 'retryable' : 'fatal',
        {
          err: err instanceof Error ? err.message : String(err),
          key,
          store,
          location: this.store.location,
          retryInMs: delayMs,
        },
        retryable ? 'upload failed; will retry' : 'upload rejected by the store; retrying slowly until fixed',
      );
    }
  }

  private updateGauges(): void {
    this.metrics.spoolBytes.set(this.spool.bytes);
    this.metrics.spoolFiles.set(this.spool.fileCount);
    this.metrics.spoolOldestAge.set((this.spool.oldestAgeMs() ?? 0) / 1000);
  }
}

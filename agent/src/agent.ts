// The composition root: wires sources → pipeline → spool → uploader → store,
// and owns the lifecycle — start, drain (bounded inputs), and graceful
// shutdown on SIGTERM within the configured grace.
import type { Server } from 'node:http';
import type { AgentConfig } from './config/schema.ts';
import { ParquetEncoder } from './encode/parquet-encoder.ts';
import { Heartbeat } from './heartbeat/heartbeat.ts';
import { FaultInjector } from './ops/fault-injection.ts';
import { boundPort, startHttpServer } from './ops/http-server.ts';
import { createLogger, type Logger } from './ops/logger.ts';
import { AGENT_VERSION, AgentMetrics } from './ops/metrics.ts';
import { Pipeline } from './pipeline/pipeline.ts';
import type { Source, SourceContext } from './pipeline/source.ts';
import { QueryHasher } from './privacy/url.ts';
import { createSource } from './sources/registry.ts';
import { Spool } from './spool/spool.ts';
import { createStore } from './store/factory.ts';
import type { ObjectStore } from './store/store.ts';
import { Uploader } from './store/uploader.ts';

export type RunMode = 'follow' | 'drain';

export interface AgentOptions {
  readonly logger?: Logger;
  readonly metrics?: AgentMetrics;
  /** Sources to run instead of (or besides) the configured ones; tests use it. */
  readonly extraSources?: readonly Source[];
  readonly store?: ObjectStore;
}

export interface AgentSummary {
  readonly node: string;
  readonly epoch: string;
  readonly store: string;
  /** What this process spooled (and, once drained, landed). */
  readonly tables: readonly { table: string; records: number; files: number; bytes: number }[];
  readonly drops: readonly { table: string; source: string; reason: string; count: number }[];
}

export interface AgentStatus {
  readonly state: string;
  readonly spoolBytes: number;
  readonly spoolFiles: number;
  readonly bufferedBytes: number;
  readonly hasCapacity: boolean;
  readonly uploadsFailing: boolean;
  readonly spoolWritesFailing: boolean;
  readonly sources: readonly { name: string; kind: string; tailLagBytes?: number; newestEventUs?: number }[];
}

export class Agent {
  readonly config: AgentConfig;
  readonly logger: Logger;
  readonly metrics: AgentMetrics;
  private readonly abort = new AbortController();
  private spool!: Spool;
  private store!: ObjectStore;
  private encoder!: ParquetEncoder;
  private pipeline!: Pipeline;
  private uploader!: Uploader;
  private heartbeat!: Heartbeat;
  private server: Server | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private sources: Source[] = [];
  private sourceRuns: Promise<void>[] = [];
  private state: 'starting' | 'running' | 'stopping' | 'stopped' = 'starting';
  private readonly options: AgentOptions;

  constructor(config: AgentConfig, options: AgentOptions = {}) {
    this.config = config;
    this.options = options;
    this.logger = options.logger ?? createLogger(config.log.level, { node: config.node_name });
    this.metrics = options.metrics ?? new AgentMetrics();
  }

  get httpPort(): number | undefined {
    return this.server ? boundPort(this.server) : undefined;
  }

  async start(mode: RunMode): Promise<void> {
    const { config } = this;
    const faults = new FaultInjector();
    try {
      this.spool = await Spool.open(config.spool.dir, config.spool.max_bytes);
    } catch (err) {
      throw new Error(`cannot use spool directory ${config.spool.dir}: ${(err as Error).message}`, { cause: err });
    }
    this.metrics.spoolLimitBytes.set(config.spool.max_bytes);
    this.store = this.options.store ?? (await createStore(config.store, this.metrics));
    this.encoder = new ParquetEncoder({
      compression: config.encode.compression,
      rowGroupRows: config.encode.row_group_rows,
      createdBy: `hoptrace version ${AGENT_VERSION}`,
      workers: config.encode.workers,
    });
    this.pipeline = new Pipeline(
      {
        batch: {
          maxRows: config.batch.max_rows,
          maxBytes: config.batch.max_bytes,
          maxAgeMs: config.batch.max_age,
          maxOpen: config.batch.max_open,
        },
        bufferMaxBytes: config.buffer.max_bytes,
      },
      this.spool,
      this.encoder,
      this.metrics,
      this.logger,
    );
    this.uploader = new Uploader(
      {
        node: config.node_name,
        prefix: config.store.prefix,
        concurrency: config.upload.concurrency,
        backoffInitialMs: config.upload.backoff_initial,
        backoffMaxMs: config.upload.backoff_max,
        afterPut: () => faults.reached('after-upload'),
      },
      this.spool,
      this.store,
      this.metrics,
      this.logger,
    );
    this.pipeline.onSpooled = () => {
      faults.reached('after-spool-commit');
      this.uploader.notify();
    };
    this.uploader.onSpaceFreed = () => this.pipeline.notifyCapacity();
    this.sources = [...config.sources.map(createSource), ...(this.options.extraSources ?? [])];
    this.heartbeat = new Heartbeat({
      node: config.node_name,
      pipeline: this.pipeline,
      spool: this.spool,
      uploader: this.uploader,
      metrics: this.metrics,
      sources: this.sources,
    });
    if (this.spool.discardedUncommitted)
      this.logger.warn(
        { files: this.spool.discardedUncommitted },
        'discarded spool files whose commit was interrupted; their records are read again from the sources',
      );
    if (this.spool.fileCount)
      this.logger.info({ files: this.spool.fileCount, bytes: this.spool.bytes }, 'uploading files left in the spool');
    // Files left from a previous run are the oldest, so they go first.
    this.uploader.start();
    if (config.server.enabled)
      this.server = await startHttpServer(config.server.host, config.server.port, this.metrics.registry, {
        ready: () => this.readiness(),
      });
    this.ticker = setInterval(() => this.pipeline.tick(), Math.min(1000, config.batch.max_age));
    this.ticker.unref();
    this.heartbeat.start(config.heartbeat.interval);
    this.state = 'running';
    this.logger.info(
      {
        version: AGENT_VERSION,
        mode,
        epoch: this.spool.epoch,
        store: this.store.location,
        sources: this.sources.map((s) => s.name),
        httpPort: this.httpPort,
      },
      'agent started',
    );
    this.sourceRuns = this.sources.map((s) => this.runSource(s, mode));
  }

  /**
   * Drain mode: waits for the pull sources to reach the end of their input,
   * then stops the push sources (which have no end) and lands everything.
   */
  async drain(): Promise<AgentSummary> {
    await Promise.all(this.sourceRuns.filter((_, i) => this.sources[i]!.kind === 'pull'));
    return this.stop(Number.POSITIVE_INFINITY);
  }

  /**
   * Stops sources, flushes every batch to the spool, and uploads what it can
   * within `graceMs`. Files not uploaded stay in the spool for the next start.
   */
  async stop(graceMs = this.config.shutdown.grace): Promise<AgentSummary> {
    if (this.state === 'stopped' || this.state === 'stopping') return this.summary();
    this.state = 'stopping';
    this.abort.abort();
    clearInterval(this.ticker);
    this.heartbeat.stop();
    const deadline = Date.now() + graceMs;
    const timeLeft = () => Math.max(0, deadline - Date.now());
    await withTimeout(Promise.allSettled(this.sourceRuns), timeLeft());
    await withTimeout(this.pipeline.flushAll(), timeLeft());
    // Taken after the flush, the last heartbeat says everything is spooled; it lands with the rest.
    this.heartbeat.beat();
    await withTimeout(this.pipeline.flushAll(), timeLeft());
    const drained = await withTimeout(this.uploader.drained(), timeLeft());
    if (!drained)
      this.logger.warn(
        { files: this.spool.fileCount, bytes: this.spool.bytes },
        'grace period over; files stay spooled',
      );
    await this.uploader.stop();
    await this.encoder.close();
    await this.store.close();
    this.server?.close();
    this.state = 'stopped';
    const summary = this.summary();
    this.logger.info({ tables: summary.tables, spooled: this.spool.fileCount }, 'agent stopped');
    return summary;
  }

  /**
   * Ready while running and able to make records durable. A spool that cannot
   * be written (disk full, directory gone, I/O errors) takes the pod out of
   * its Services (the OTLP receiver) and holds a rolling update, instead of
   * accepting records it cannot keep; writes are retried and readiness comes
   * back with the first one that succeeds.
   */
  private readiness(): { ok: boolean; reason?: string } {
    if (this.state !== 'running') return { ok: false, reason: this.state };
    if (this.pipeline.spoolWritesFailing) return { ok: false, reason: `spool writes failing (${this.spool.dir})` };
    return { ok: true };
  }

  /** Point-in-time state for readiness checks, logs and tests. */
  status(): AgentStatus {
    return {
      state: this.state,
      spoolBytes: this.spool.bytes,
      spoolFiles: this.spool.fileCount,
      bufferedBytes: this.pipeline.bufferedBytes,
      hasCapacity: this.pipeline.hasCapacity(),
      uploadsFailing: this.uploader.failing,
      spoolWritesFailing: this.pipeline.spoolWritesFailing,
      sources: this.sources.map((s) => ({ name: s.name, kind: s.kind, ...s.lag?.() })),
    };
  }

  private summary(): AgentSummary {
    return {
      node: this.config.node_name,
      epoch: this.spool.epoch,
      store: this.store.location,
      tables: this.pipeline.progress().map((t) => ({
        table: t.table,
        records: t.recordsSpooled,
        files: t.filesSpooled,
        bytes: t.bytesSpooled,
      })),
      drops: this.metrics.drops(),
    };
  }

  private async runSource(source: Source, mode: RunMode): Promise<void> {
    const ctx = this.contextFor(source);
    try {
      await source.run(ctx, mode);
      this.logger.info({ source: source.name }, 'source finished');
    } catch (err) {
      if (this.abort.signal.aborted) return;
      // A source failing must not take the others down; it is logged and counted.
      this.metrics.drop('unknown', source.name, 'source_failed');
      this.logger.error({ source: source.name, err }, 'source failed');
    }
  }

  private contextFor(source: Source): SourceContext {
    const { pipeline, spool, metrics } = this;
    const paused = metrics.sourcePaused.labels({ source: source.name });
    const queryHasher = new QueryHasher(this.config.privacy.query_hash_key);
    paused.set(0);
    return {
      node: this.config.node_name,
      logger: this.logger.child({ source: source.name }),
      metrics,
      queryHasher,
      signal: this.abort.signal,
      hasCapacity: () => pipeline.hasCapacity(),
      async waitForCapacity() {
        if (pipeline.hasCapacity()) return;
        paused.set(1);
        await pipeline.waitForCapacity();
        paused.set(0);
      },
      emit: (records, onDurable) => pipeline.accept(source.name, records, onDurable),
      offer: (records) => pipeline.offer(source.name, records),
      lose: (table, reason, count) => metrics.lose(table, source.name, reason, count),
      checkpoint: (key) => spool.checkpoint(key),
      setCheckpoint: (key, value) => spool.setCheckpoint(key, value),
    };
  }
}

async function withTimeout(p: Promise<unknown>, ms: number): Promise<boolean> {
  if (!Number.isFinite(ms)) {
    await p;
    return true;
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

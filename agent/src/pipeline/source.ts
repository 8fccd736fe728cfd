// The contract between sources and the pipeline. Data flows one way
// (source → pipeline → spool → store); acknowledgements flow back, so a source
// commits a position only once the records before it are durable.
import type { TableName, TableRows } from '../contract/generated.ts';
import type { Logger } from '../ops/logger.ts';
import type { AgentMetrics } from '../ops/metrics.ts';
import type { QueryHasher } from '../privacy/url.ts';

export interface TableRecord<T extends TableName = TableName> {
  readonly table: T;
  readonly row: TableRows[T];
}

export interface SourceContext {
  readonly node: string;
  readonly logger: Logger;
  readonly metrics: AgentMetrics;
  /** Hashes query strings when the operator configured a key; otherwise they are dropped. */
  readonly queryHasher: QueryHasher;
  /** Aborted when the agent shuts down; sources stop reading and return. */
  readonly signal: AbortSignal;
  /** Whether the pipeline can take more records now (lets a receiver refuse before reading a request). */
  hasCapacity(): boolean;
  /** Resolves when the pipeline can take more records (pull sources await it before reading). */
  waitForCapacity(): Promise<void>;
  /**
   * Pull sources: hands records over; `onDurable` runs once every one of them
   * is in a committed spool file (or was dropped with a counted reason).
   * Checkpoints set from `onDurable` are committed with that file.
   */
  emit(records: readonly TableRecord[], onDurable?: () => void): void;
  /** Push sources: accepts the records, or drops them all (counted) when full. */
  offer(records: readonly TableRecord[]): boolean;
  /** Reports records lost upstream of the agent (e.g. a ring buffer overflow). */
  lose(table: TableName, reason: string, count: number): void;
  /** Last committed position under `key`, from the spool state. */
  checkpoint<T>(key: string): T | undefined;
  /** Moves a position; call only from `onDurable`. */
  setCheckpoint(key: string, value: unknown): void;
}

export interface SourceLag {
  /** Bytes not yet read from the source's files. */
  readonly tailLagBytes?: number;
  /** Event time of the newest record emitted, epoch µs. */
  readonly newestEventUs?: number;
}

export interface Source {
  readonly name: string;
  /** `pull` sources can replay from a checkpoint; `push` sources cannot. */
  readonly kind: 'pull' | 'push';
  /**
   * Runs the source. In `drain` mode a bounded source returns when its input
   * is exhausted; in `follow` mode it runs until the signal aborts.
   */
  run(ctx: SourceContext, mode: 'follow' | 'drain'): Promise<void>;
  lag?(): SourceLag;
}

// An in-memory SourceContext for driving one source in a test: it keeps what
// the source emits, acknowledges emissions at once or when told, and models
// the spool's checkpoint semantics — positions set from acknowledgements are
// only durable once `commit()` runs, and a "restart" sees the committed ones.

import { type Logger, silentLogger } from '../../agent/src/ops/logger.ts';
import { AgentMetrics } from '../../agent/src/ops/metrics.ts';
import type { SourceContext, TableRecord } from '../../agent/src/pipeline/source.ts';
import { QueryHasher } from '../../agent/src/privacy/url.ts';

export class TestSourceContext implements SourceContext {
  readonly node: string;
  readonly logger: Logger;
  readonly metrics = new AgentMetrics({ defaultMetrics: false });
  readonly queryHasher: QueryHasher;
  readonly abort = new AbortController();
  /** Every emission, in order, with whether it was acknowledged. */
  readonly emissions: { records: readonly TableRecord[]; acked: boolean }[] = [];
  /** Acknowledge emissions as they come (the default), or hold them for `ack()`. */
  autoAck = true;
  private held: { index: number; onDurable: () => void }[] = [];
  private working: Record<string, unknown>;
  private committed: Record<string, unknown>;

  constructor(
    options: { committed?: Record<string, unknown>; node?: string; queryHashKey?: string; logger?: Logger } = {},
  ) {
    this.logger = options.logger ?? silentLogger;
    this.committed = structuredClone(options.committed ?? {});
    this.working = structuredClone(this.committed);
    this.node = options.node ?? 'node-a';
    this.queryHasher = new QueryHasher(options.queryHashKey);
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get records(): TableRecord[] {
    return this.emissions.flatMap((e) => e.records);
  }

  private gate: { promise: Promise<void>; open: () => void } | undefined;

  /** Makes the source wait in waitForCapacity (backpressure) until `resume()`. */
  pause(): void {
    let open = () => {};
    const promise = new Promise<void>((resolve) => {
      open = resolve;
    });
    this.gate = { promise, open };
  }

  resume(): void {
    this.gate?.open();
    this.gate = undefined;
  }

  /** Calls currently waiting at a paused gate. */
  blocked = 0;

  hasCapacity(): boolean {
    return this.gate === undefined;
  }

  async waitForCapacity(): Promise<void> {
    const gate = this.gate;
    if (!gate) return;
    this.blocked++;
    await gate.promise;
    this.blocked--;
  }

  emit(records: readonly TableRecord[], onDurable?: () => void): void {
    const index = this.emissions.push({ records, acked: false }) - 1;
    if (!onDurable) return;
    if (this.autoAck) {
      this.emissions[index]!.acked = true;
      onDurable();
    } else this.held.push({ index, onDurable });
  }

  /** Acknowledges the `n` oldest held emissions (or all), oldest or newest first. */
  ack(n = this.held.length, order: 'oldest-first' | 'newest-first' = 'oldest-first'): void {
    const take = this.held.splice(0, n);
    if (order === 'newest-first') take.reverse();
    for (const h of take) {
      this.emissions[h.index]!.acked = true;
      h.onDurable();
    }
  }

  offer(records: readonly TableRecord[]): boolean {
    this.emit(records);
    return true;
  }

  lose(): void {}

  checkpoint<T>(key: string): T | undefined {
    return this.working[key] as T | undefined;
  }

  setCheckpoint(key: string, value: unknown): void {
    this.working[key] = value;
  }

  /** What a spool commit would make durable now. */
  commit(): Record<string, unknown> {
    this.committed = structuredClone(this.working);
    return this.committed;
  }

  /** The state a restarted process would find. */
  durable(): Record<string, unknown> {
    return structuredClone(this.committed);
  }
}

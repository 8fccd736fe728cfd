// The agent's completeness marker: every interval, one agent_heartbeats row
// saying how far each table is spooled and uploaded, and what was dropped or
// lost, so the lakehouse can tell "no traffic" from "data lost".
import type { AgentHeartbeatRow } from '../contract/generated.ts';
import { SCHEMA_VERSION } from '../contract/generated.ts';
import { recordId } from '../contract/record-id.ts';
import { nowUs } from '../contract/time.ts';
import { AGENT_VERSION, type AgentMetrics } from '../ops/metrics.ts';
import type { Pipeline } from '../pipeline/pipeline.ts';
import type { Source } from '../pipeline/source.ts';
import type { Spool } from '../spool/spool.ts';
import type { Uploader } from '../store/uploader.ts';

export const HEARTBEAT_SOURCE = 'agent';

export interface HeartbeatDeps {
  readonly node: string;
  readonly pipeline: Pipeline;
  readonly spool: Spool;
  readonly uploader: Uploader;
  readonly metrics: AgentMetrics;
  readonly sources: readonly Source[];
}

export class Heartbeat {
  private seq = 0;
  private readonly startedAtUs = nowUs();
  private timer: NodeJS.Timeout | undefined;
  private readonly deps: HeartbeatDeps;

  constructor(deps: HeartbeatDeps) {
    this.deps = deps;
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => this.beat(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Builds the next heartbeat row (without emitting it). */
  row(): AgentHeartbeatRow {
    const { node, pipeline, spool, uploader, metrics, sources } = this.deps;
    const now = nowUs();
    this.seq++;
    let tailLag: number | undefined;
    let newest: number | undefined;
    for (const s of sources) {
      const lag = s.lag?.();
      if (lag?.tailLagBytes !== undefined) tailLag = Math.max(tailLag ?? 0, lag.tailLagBytes);
      if (lag?.newestEventUs !== undefined) newest = Math.min(newest ?? Number.POSITIVE_INFINITY, lag.newestEventUs);
    }
    const oldest = spool.oldestAgeMs();
    return {
      record_id: recordId(node, spool.epoch, this.startedAtUs, this.seq),
      event_time: now,
      observed_time: now,
      node,
      source: HEARTBEAT_SOURCE,
      schema_version: SCHEMA_VERSION,
      epoch: spool.epoch,
      agent_version: AGENT_VERSION,
      started_at: this.startedAtUs,
      heartbeat_seq: this.seq,
      tables: pipeline.progress().map((p) => ({
        table: p.table,
        last_seq: p.lastSeq,
        uploaded_seq: uploader.uploadedSeq(p.table),
        flushed_through: p.flushedThroughUs,
        records_in: p.recordsIn,
        records_spooled: p.recordsSpooled,
        records_buffered: p.recordsBuffered,
      })),
      drops: metrics.drops(),
      losses: metrics.losses(),
      spool_bytes: spool.bytes,
      spool_files: spool.fileCount,
      spool_oldest_age_us: oldest === undefined ? null : oldest * 1000,
      tail_lag_bytes: tailLag ?? null,
      source_lag_us: newest === undefined ? null : Math.max(0, now - newest),
    };
  }

  /** Emits one heartbeat into the pipeline. Heartbeats bypass backpressure: they are the evidence of it. */
  beat(): void {
    this.deps.pipeline.accept(HEARTBEAT_SOURCE, [{ table: 'agent_heartbeats', row: this.row() }]);
    this.deps.metrics.heartbeats.inc();
  }
}

// Every metric the agent exports is declared here (docs/metrics.md is
// generated from this registry). Drops and losses go through one ledger that
// feeds both Prometheus and the heartbeat record, so the SRE's dashboard and
// the lakehouse's completeness checks count the same thing.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { DropCount } from '../contract/generated.ts';

export const AGENT_VERSION = '0.1.0';

type Key = string;
const keyOf = (table: string, source: string, reason: string): Key => `${table}\u0000${source}\u0000${reason}`;

export class AgentMetrics {
  readonly registry = new Registry();

  readonly recordsIn = new Counter({
    name: 'hoptrace_records_in_total',
    help: 'Records accepted from sources into the pipeline.',
    labelNames: ['table', 'source'] as const,
    registers: [this.registry],
  });
  readonly recordsSpooled = new Counter({
    name: 'hoptrace_records_spooled_total',
    help: 'Records written to durable spool files.',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });
  readonly recordsDropped = new Counter({
    name: 'hoptrace_records_dropped_total',
    help: 'Records the agent dropped, by reason (spool_full, invalid_record, …).',
    labelNames: ['table', 'source', 'reason'] as const,
    registers: [this.registry],
  });
  readonly recordsLost = new Counter({
    name: 'hoptrace_records_lost_total',
    help: 'Records a push source reports lost before the agent saw them (e.g. Hubble lost events).',
    labelNames: ['table', 'source', 'reason'] as const,
    registers: [this.registry],
  });
  readonly valuesTruncated = new Counter({
    name: 'hoptrace_values_truncated_total',
    help: 'String values cut to their column bound.',
    labelNames: ['table', 'column'] as const,
    registers: [this.registry],
  });
  readonly filesSpooled = new Counter({
    name: 'hoptrace_spool_files_written_total',
    help: 'Parquet files written to the spool.',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });
  readonly bytesSpooled = new Counter({
    name: 'hoptrace_spool_bytes_written_total',
    help: 'Parquet bytes written to the spool.',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });
  readonly encodeSeconds = new Histogram({
    name: 'hoptrace_encode_duration_seconds',
    help: 'Time to encode one batch into Parquet.',
    labelNames: ['table'] as const,
    buckets: [0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly spoolErrors = new Counter({
    name: 'hoptrace_spool_errors_total',
    help: 'Failed attempts to encode or write a batch to the spool (retried).',
    labelNames: ['table', 'stage'] as const,
    registers: [this.registry],
  });
  readonly uploads = new Counter({
    name: 'hoptrace_uploads_total',
    help: 'Upload attempts by result (ok, retryable_error, fatal_error).',
    labelNames: ['store', 'result'] as const,
    registers: [this.registry],
  });
  readonly uploadSeconds = new Histogram({
    name: 'hoptrace_upload_duration_seconds',
    help: 'Time to upload one file, successful attempts only.',
    labelNames: ['store'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly uploadBytes = new Counter({
    name: 'hoptrace_upload_bytes_total',
    help: 'Bytes uploaded to the store.',
    labelNames: ['store'] as const,
    registers: [this.registry],
  });
  readonly s3Requests = new Counter({
    name: 'hoptrace_s3_requests_total',
    help: 'S3 requests after SDK retries, by operation and result code (ok or the S3/network error code).',
    labelNames: ['operation', 'code'] as const,
    registers: [this.registry],
  });
  readonly s3Retries = new Counter({
    name: 'hoptrace_s3_retries_total',
    help: 'Retries the S3 SDK made inside requests.',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });
  readonly landingLatency = new Histogram({
    name: 'hoptrace_landing_latency_seconds',
    help: 'From the newest event in a file to its upload completing.',
    labelNames: ['table'] as const,
    buckets: [1, 5, 10, 20, 30, 45, 60, 90, 120, 300, 900],
    registers: [this.registry],
  });
  readonly spoolBytes = new Gauge({
    name: 'hoptrace_spool_bytes',
    help: 'Bytes of Parquet files waiting in the spool.',
    registers: [this.registry],
  });
  readonly spoolFiles = new Gauge({
    name: 'hoptrace_spool_files',
    help: 'Parquet files waiting in the spool.',
    registers: [this.registry],
  });
  readonly spoolLimitBytes = new Gauge({
    name: 'hoptrace_spool_limit_bytes',
    help: 'Configured spool bound.',
    registers: [this.registry],
  });
  readonly spoolOldestAge = new Gauge({
    name: 'hoptrace_spool_oldest_age_seconds',
    help: 'Age of the oldest file waiting for upload (0 when none).',
    registers: [this.registry],
  });
  readonly bufferBytes = new Gauge({
    name: 'hoptrace_buffer_bytes',
    help: 'Bytes of records held in memory before the spool.',
    registers: [this.registry],
  });
  readonly sourcePaused = new Gauge({
    name: 'hoptrace_source_paused',
    help: '1 while a source is paused by backpressure.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly heartbeats = new Counter({
    name: 'hoptrace_heartbeats_total',
    help: 'Heartbeat records emitted.',
    registers: [this.registry],
  });
  readonly buildInfo = new Gauge({
    name: 'hoptrace_build_info',
    help: 'Agent version and runtime.',
    labelNames: ['version', 'node_version'] as const,
    registers: [this.registry],
  });

  // --- sources: container-logs ---
  // --- sources: hubble ---
  // --- sources: calico ---
  // --- sources: kubernetes ---
  // --- sources: otlp ---

  private readonly dropLedger = new Map<Key, DropCount>();
  private readonly lossLedger = new Map<Key, DropCount>();

  constructor(options: { defaultMetrics?: boolean } = {}) {
    this.buildInfo.set({ version: AGENT_VERSION, node_version: process.version }, 1);
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Records the agent itself dropped. */
  drop(table: string, source: string, reason: string, count = 1): void {
    this.recordsDropped.inc({ table, source, reason }, count);
    bump(this.dropLedger, table, source, reason, count);
  }

  /** Records a source reports lost upstream of the agent. */
  lose(table: string, source: string, reason: string, count = 1): void {
    this.recordsLost.inc({ table, source, reason }, count);
    bump(this.lossLedger, table, source, reason, count);
  }

  drops(): DropCount[] {
    return sorted(this.dropLedger);
  }
  losses(): DropCount[] {
    return sorted(this.lossLedger);
  }
}

function bump(ledger: Map<Key, DropCount>, table: string, source: string, reason: string, count: number): void {
  const key = keyOf(table, source, reason);
  const prev = ledger.get(key);
  ledger.set(key, { table, source, reason, count: (prev?.count ?? 0) + count });
}

function sorted(ledger: Map<Key, DropCount>): DropCount[] {
  return [...ledger.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
}

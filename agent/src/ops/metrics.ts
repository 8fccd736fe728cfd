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
  readonly tailFilesOpen = new Gauge({
    name: 'hoptrace_tail_files_open',
    help: 'File descriptors a tailing source holds (bounded by max_open_files).',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly tailFilesTracked = new Gauge({
    name: 'hoptrace_tail_files_tracked',
    help: 'Files a tailing source follows, open or not, including rotated files not yet finished.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly tailFilesWaiting = new Gauge({
    name: 'hoptrace_tail_files_waiting',
    help: 'Files with unread data waiting for a descriptor because max_open_files is reached.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly tailRotations = new Counter({
    name: 'hoptrace_tail_rotations_total',
    help: 'Rotations seen: rename (the path now holds another file), delete (the path is gone), truncate (copytruncate or rewrite in place).',
    labelNames: ['source', 'kind'] as const,
    registers: [this.registry],
  });
  readonly tailBytesRead = new Counter({
    name: 'hoptrace_tail_bytes_read_total',
    help: 'Bytes read from tailed files.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly tailLagBytes = new Gauge({
    name: 'hoptrace_tail_lag_bytes',
    help: 'Bytes written to tailed files and not yet read.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly tailRecords = new Counter({
    name: 'hoptrace_tail_records_total',
    help: 'Log records decoded from tailed files (partial records joined), by framing: cri, docker, raw.',
    labelNames: ['source', 'format'] as const,
    registers: [this.registry],
  });
  readonly tailRecordsTruncated = new Counter({
    name: 'hoptrace_tail_records_truncated_total',
    help: 'Records longer than max_line_size, cut to it (the record is kept).',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly tailBytesUnreadLost = new Counter({
    name: 'hoptrace_tail_unread_bytes_lost_total',
    help: 'Bytes of files that disappeared before they were read (deleted while not open, e.g. while the agent was down).',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly containerLogLines = new Counter({
    name: 'hoptrace_container_log_lines_total',
    help: 'Container log lines by outcome: access (mapped to a row), malformed (an access line that could not be parsed, dropped), or the kind of non-access line skipped: klog, nginx_error, envoy_app, istio_agent, json_app, tcp, stream, other.',
    labelNames: ['source', 'parser', 'kind'] as const,
    registers: [this.registry],
  });
  // --- sources: hubble ---
  readonly hubbleStreamConnected = new Gauge({
    name: 'hoptrace_hubble_stream_connected',
    help: '1 while a Hubble GetFlows stream is delivering, 0 while the source waits to reconnect.',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly hubbleStreamEnds = new Counter({
    name: 'hoptrace_hubble_stream_ends_total',
    help: 'Hubble GetFlows streams that ended and were called again, by reason (end = the server closed it, or the gRPC status such as unavailable).',
    labelNames: ['source', 'reason'] as const,
    registers: [this.registry],
  });
  readonly hubbleEvents = new Counter({
    name: 'hoptrace_hubble_events_total',
    help: 'Hubble events read, by kind (flow, duplicate = a flow seen before a resume, lost_events, node_status, agent_event, debug_event).',
    labelNames: ['source', 'kind'] as const,
    registers: [this.registry],
  });
  readonly hubbleNodeStatus = new Counter({
    name: 'hoptrace_hubble_node_status_total',
    help: 'Hubble Relay node status events by state (NODE_CONNECTED, NODE_UNAVAILABLE, NODE_GONE, NODE_ERROR), counted per node named.',
    labelNames: ['source', 'state'] as const,
    registers: [this.registry],
  });
  // --- sources: calico ---
  // --- sources: kubernetes ---
  readonly k8sWatchRestarts = new Counter({
    name: 'hoptrace_k8s_watch_restarts_total',
    help: 'Kubernetes watches that ended and were resumed, by kind and reason (closed, idle_timeout, expired = 410 Gone, error, list_error, backpressure).',
    labelNames: ['kind', 'reason'] as const,
    registers: [this.registry],
  });
  readonly k8sRelists = new Counter({
    name: 'hoptrace_k8s_relists_total',
    help: 'Full re-LISTs after the first one, by kind and reason (expired = the watch position was too old).',
    labelNames: ['kind', 'reason'] as const,
    registers: [this.registry],
  });
  readonly k8sWatchEvents = new Counter({
    name: 'hoptrace_k8s_watch_events_total',
    help: 'Watch events received, by kind and type (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR).',
    labelNames: ['kind', 'type'] as const,
    registers: [this.registry],
  });
  readonly k8sSnapshots = new Counter({
    name: 'hoptrace_k8s_snapshots_total',
    help: 'Full snapshots (change_type SNAPSHOT) written, by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly k8sCacheObjects = new Gauge({
    name: 'hoptrace_k8s_cache_objects',
    help: 'Objects held in the local cache, by kind (pods: this node; others: the whole cluster, on the leader only).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  /** Wall-clock ms of the last watch event (bookmarks included) per kind. */
  readonly k8sLastEventMs = new Map<string, number>();
  readonly k8sLastEventAge = new Gauge({
    name: 'hoptrace_k8s_last_event_age_seconds',
    help: 'Seconds since the last watch event or bookmark, by kind (a growing value on a busy kind means a stuck watch).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
    collect: () => {
      const now = Date.now();
      for (const [kind, at] of this.k8sLastEventMs) this.k8sLastEventAge.set({ kind }, (now - at) / 1000);
    },
  });
  readonly k8sLeader = new Gauge({
    name: 'hoptrace_k8s_leader',
    help: '1 while this agent holds the Lease and exports the cluster-scoped kinds, else 0.',
    registers: [this.registry],
  });
  readonly k8sLeaderTransitions = new Counter({
    name: 'hoptrace_k8s_leader_transitions_total',
    help: 'Leadership changes of this agent: acquired, lost (not renewed in time), released (on shutdown).',
    labelNames: ['transition'] as const,
    registers: [this.registry],
  });
  // --- sources: otlp ---
  readonly otlpRequests = new Counter({
    name: 'hoptrace_otlp_requests_total',
    help: 'OTLP trace export requests by protocol (grpc, http) and result (ok, partial, malformed, too_large, busy, stopping, unsupported, failed).',
    labelNames: ['protocol', 'result'] as const,
    registers: [this.registry],
  });
  readonly otlpSpansReceived = new Counter({
    name: 'hoptrace_otlp_spans_received_total',
    help: 'Spans decoded from OTLP export requests, accepted or not.',
    labelNames: ['protocol'] as const,
    registers: [this.registry],
  });
  readonly otlpSpansRejected = new Counter({
    name: 'hoptrace_otlp_spans_rejected_total',
    help: 'Decoded spans not accepted, by protocol and reason (a drop reason such as invalid_trace_id, or pipeline_full when the spool or buffer refused the request); reported to the client.',
    labelNames: ['protocol', 'reason'] as const,
    registers: [this.registry],
  });
  readonly otlpRequestBytes = new Histogram({
    name: 'hoptrace_otlp_request_bytes',
    help: 'Size of OTLP export request bodies after decompression.',
    labelNames: ['protocol'] as const,
    buckets: [1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864],
    registers: [this.registry],
  });
  readonly otlpInflightBytes = new Gauge({
    name: 'hoptrace_otlp_inflight_bytes',
    help: 'Bytes of OTLP requests being received, decompressed or decoded.',
    registers: [this.registry],
  });

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

// Calico (Enterprise/Cloud) flow-log record → `flows` row. A record
// aggregates the connections of one interval between two endpoints (or
// endpoint groups) as one node saw them; fields that aggregation hides are
// written `-`, `*`-suffixed name prefixes or null, and stay empty here except
// the pod-name prefixes, which are kept as reported (`nginx-86c57db685-*`).
import { type FlowRow, SCHEMA_VERSION } from '../../contract/generated.ts';
import { parseTimestampUs } from '../../contract/time.ts';

type Obj = Readonly<Record<string, unknown>>;

export type CalicoResult = { readonly row: FlowRow } | { readonly drop: string };

export interface CalicoContext {
  readonly node: string;
  readonly source: string;
  readonly recordId: string;
  readonly observedUs: number;
}

const obj = (v: unknown): Obj | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined;

/** A reported value, or undefined for the placeholders of "not known" and "aggregated away". */
function text(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  return s === '' || s === '-' || s === '*' || s === 'null' ? undefined : s;
}

function count(v: unknown): number | undefined {
  const n = typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function port(v: unknown): number | undefined {
  const n = count(v);
  return n !== undefined && n >= 1 && n <= 65535 ? n : undefined;
}

const MIN_US = Date.UTC(2000, 0, 1) * 1000;
const MAX_US = Date.UTC(2200, 0, 1) * 1000;

/** Unix seconds (Calico's unit; milliseconds are recognised by size), or RFC 3339. */
function timeUs(v: unknown): number | undefined {
  let us: number | undefined;
  const n = typeof v === 'string' && /^\d+(\.\d+)?$/.test(v) ? Number(v) : v;
  if (typeof n === 'number' && Number.isFinite(n) && n > 0)
    us = Math.round(n < 1e11 ? n * 1e6 : n < 1e14 ? n * 1e3 : n);
  else if (typeof v === 'string') us = parseTimestampUs(v.trim());
  return us !== undefined && us >= MIN_US && us < MAX_US ? us : undefined;
}

const PROTOCOLS: ReadonlyMap<string, string> = new Map([
  ['tcp', 'TCP'],
  ['6', 'TCP'],
  ['udp', 'UDP'],
  ['17', 'UDP'],
  ['sctp', 'SCTP'],
  ['132', 'SCTP'],
  ['icmp', 'ICMPv4'],
  ['1', 'ICMPv4'],
  ['icmp6', 'ICMPv6'],
  ['icmpv6', 'ICMPv6'],
  ['58', 'ICMPv6'],
]);

function protocol(v: unknown): string | undefined {
  const p = typeof v === 'number' ? String(v) : text(v)?.toLowerCase();
  if (p === undefined) return undefined;
  return PROTOCOLS.get(p) ?? p.toUpperCase();
}

const VERDICTS: ReadonlyMap<string, string> = new Map([
  ['allow', 'FORWARDED'],
  ['deny', 'DROPPED'],
]);
/** Reporter → direction relative to the reporting endpoint (`fwd`: a node forwarding, neither end). */
const REPORTERS: ReadonlyMap<string, string | undefined> = new Map([
  ['src', 'EGRESS'],
  ['dst', 'INGRESS'],
  ['fwd', undefined],
]);

/** `{"labels": ["k=v", …]}` (flow-log file), a bare list, or a `-`. */
function labels(v: unknown): Record<string, string> | undefined {
  const list = Array.isArray(v) ? v : obj(v)?.labels;
  if (!Array.isArray(list) || !list.length) return undefined;
  const out: Record<string, string> = Object.create(null);
  for (const l of list) {
    if (typeof l !== 'string' || l === '' || l === '-') continue;
    const eq = l.indexOf('=');
    const key = eq === -1 ? l : l.slice(0, eq);
    if (!Object.hasOwn(out, key)) out[key] = eq === -1 ? '' : l.slice(eq + 1);
  }
  return Object.keys(out).length ? out : undefined;
}

interface Endpoint {
  readonly namespace?: string;
  readonly pod?: string;
  readonly workload?: string;
}

/**
 * Workload endpoints name a pod (or, aggregated, a pod-name prefix ending in
 * `*`); host endpoints, network sets and networks are not pods and are
 * written as `HostEndpoint/…`, `NetworkSet/…`, `Network/pub|pvt`.
 */
function endpoint(o: Obj, side: 'source' | 'dest'): Endpoint {
  const namespace = text(o[`${side}_namespace`]);
  const name = text(o[`${side}_name`]);
  const aggr = typeof o[`${side}_name_aggr`] === 'string' ? (o[`${side}_name_aggr`] as string).trim() : undefined;
  const group = aggr && aggr !== '-' ? aggr : undefined;
  const type = text(o[`${side}_type`]);
  const base = namespace === undefined ? {} : { namespace };
  switch (type) {
    case 'hep':
      return { ...base, ...(name || group ? { workload: `HostEndpoint/${name ?? group}` } : {}) };
    case 'ns':
      return { ...base, ...(name || group ? { workload: `NetworkSet/${name ?? group}` } : {}) };
    case 'net':
      return { ...base, ...(group ? { workload: `Network/${group}` } : {}) };
    default:
      return { ...base, ...(name || group ? { pod: name ?? group } : {}) };
  }
}

function policies(v: unknown): string[] {
  const p = obj(v);
  if (!p) return [];
  // Enforced policies decided the verdict; older files only have all_policies.
  const list = Array.isArray(p.enforced_policies) ? p.enforced_policies : p.all_policies;
  return Array.isArray(list) ? list.filter((s): s is string => typeof s === 'string' && s !== '' && s !== '-') : [];
}

export function mapCalicoFlowLog(record: unknown, ctx: CalicoContext): CalicoResult {
  const o = obj(record);
  if (!o) return { drop: 'not_a_flow_log' };
  const startRaw = o.start_time ?? o.startTime;
  const endRaw = o.end_time ?? o.endTime;
  const start = timeUs(startRaw);
  const end = timeUs(endRaw);
  const eventUs = end ?? start;
  if (eventUs === undefined) {
    const absent = (startRaw === undefined || startRaw === null) && (endRaw === undefined || endRaw === null);
    return { drop: absent ? 'no_event_time' : 'invalid_event_time' };
  }
  const src = endpoint(o, 'source');
  const dst = endpoint(o, 'dest');
  const reported = text(o.reporter)?.toLowerCase();
  const reporter = reported !== undefined && REPORTERS.has(reported) ? reported : undefined;
  const action = text(o.action)?.toLowerCase();
  const row: FlowRow = {
    record_id: ctx.recordId,
    event_time: eventUs,
    observed_time: ctx.observedUs,
    node: ctx.node,
    source: ctx.source,
    schema_version: SCHEMA_VERSION,
    flow_start_time: start,
    flow_end_time: end,
    src_ip: text(o.source_ip),
    src_port: port(o.source_port),
    dst_ip: text(o.dest_ip),
    dst_port: port(o.dest_port),
    l4_protocol: protocol(o.proto),
    verdict: (action === undefined ? undefined : VERDICTS.get(action)) ?? 'VERDICT_UNKNOWN',
    traffic_direction: reporter === undefined ? undefined : REPORTERS.get(reporter),
    observation_point: reporter ? `REPORTER_${reporter.toUpperCase()}` : undefined,
    event_type: 'AGGREGATED',
    src_namespace: src.namespace,
    src_pod: src.pod,
    src_workload: src.workload,
    src_labels: labels(o.source_labels),
    dst_namespace: dst.namespace,
    dst_pod: dst.pod,
    dst_workload: dst.workload,
    dst_labels: labels(o.dest_labels),
    dst_service_namespace: text(o.dest_service_namespace),
    dst_service_name: text(o.dest_service_name),
    pre_translation_dst_port: port(o.dest_service_port_num) ?? port(o.dest_service_port),
    reported_node: text(o.host),
    packets_out: count(o.packets_out),
    packets_in: count(o.packets_in),
    bytes_out: count(o.bytes_out),
    bytes_in: count(o.bytes_in),
    flow_count: count(o.num_flows),
    policies: policies(o.policies),
  };
  return { row };
}

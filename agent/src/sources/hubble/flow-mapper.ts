// Hubble flow → `flows` row, shared by the Observer client (decoded protobuf)
// and the export file (protojson). Only allow-listed values leave: HTTP method,
// status, path (never the query), protocol and latency; the correlation
// headers; the DNS query name (never the answers). Everything else a flow
// carries — other header values, the `Summary` text, DNS answers — is not read.
import { type FlowRow, SCHEMA_VERSION } from '../../contract/generated.ts';
import { recordId } from '../../contract/record-id.ts';
import { ALLOWED_HEADERS, traceIdsFromHeaders } from '../../privacy/trace-context.ts';
import { splitTarget } from '../../privacy/url.ts';
import { ENUMS } from './proto.ts';
import { arr, boolValue, enumName, type Obj, obj, str, timestampUs, u64, uint } from './values.ts';

export type HubbleEvent =
  | {
      readonly kind: 'flow';
      readonly row: FlowRow;
      /** The flow uuid, or the record id of a flow without one: what duplicates share. */
      readonly dedupeKey: string;
      /** Flow time at the precision Hubble's `since` understands (µs, floored). */
      readonly eventUs: number;
    }
  | { readonly kind: 'lost'; readonly reason: string; readonly count: number }
  | {
      readonly kind: 'node_status';
      readonly state: string;
      readonly nodes: readonly string[];
      readonly message?: string;
    }
  | { readonly kind: 'ignored'; readonly what: string }
  | { readonly kind: 'drop'; readonly reason: string };

export interface FlowMapperOptions {
  readonly node: string;
  /** Source name, written to the `source` column. */
  readonly source: string;
  /** Sockets whose translation points are remembered to pair pre- and post-translation addresses. */
  readonly sockets?: number;
}

const TCP_FLAGS = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR', 'NS'] as const;
const L4 = ['TCP', 'UDP', 'SCTP', 'ICMPv4', 'ICMPv6'] as const;
const HEX32 = /^[0-9a-f]{32}$/;

/** Short translation-point names (the column is bounded to 32 characters). */
const SOCK_POINTS: Readonly<Record<string, { readonly name: string; readonly role: 'frontend' | 'backend' }>> = {
  SOCK_XLATE_POINT_PRE_DIRECTION_FWD: { name: 'SOCK_PRE_XLATE_FWD', role: 'frontend' },
  SOCK_XLATE_POINT_POST_DIRECTION_FWD: { name: 'SOCK_POST_XLATE_FWD', role: 'backend' },
  SOCK_XLATE_POINT_PRE_DIRECTION_REV: { name: 'SOCK_PRE_XLATE_REV', role: 'backend' },
  SOCK_XLATE_POINT_POST_DIRECTION_REV: { name: 'SOCK_POST_XLATE_REV', role: 'frontend' },
};

interface Address {
  readonly ip: string | undefined;
  readonly port: number | undefined;
}

interface SocketXlate {
  frontend?: Address;
  backend?: Address;
}

/** Lost-event and node-status reasons as they appear in metrics and heartbeats. */
export function lostReason(source: string): string {
  return source.toLowerCase();
}

export class HubbleFlowMapper {
  private readonly node: string;
  private readonly source: string;
  private readonly maxSockets: number;
  /** Socket cookie → translation addresses seen so far, least recently used first. */
  private readonly sockets = new Map<string, SocketXlate>();

  constructor(options: FlowMapperOptions) {
    this.node = options.node;
    this.source = options.source;
    this.maxSockets = options.sockets ?? 16_384;
  }

  /**
   * One GetFlowsResponse or export event: `flow`, `lost_events`, `node_status`
   * (others are not flows and are ignored). `fallbackId` names a flow without
   * a uuid by its position or contents.
   */
  event(response: Obj, fallbackId: () => string, observedUs: number): HubbleEvent {
    const flow = obj(response.flow);
    if (flow) return this.flow(flow, response, fallbackId, observedUs);
    const lost = obj(response.lost_events);
    if (lost) {
      const source = enumName(lost.source, ENUMS.lostEventSource) ?? 'UNKNOWN_LOST_EVENT_SOURCE';
      const count = u64(lost.num_events_lost);
      // A count beyond 2^53 is corrupt, not lossy; it is counted as one event rather than trusted.
      return {
        kind: 'lost',
        reason: lostReason(source),
        count: count === undefined ? 1 : count > BigInt(Number.MAX_SAFE_INTEGER) ? 1 : Number(count),
      };
    }
    const status = obj(response.node_status);
    if (status) {
      const nodes = arr(status.node_names).filter((n): n is string => typeof n === 'string');
      const message = str(status.message);
      return {
        kind: 'node_status',
        state: enumName(status.state_change, ENUMS.nodeState) ?? 'UNKNOWN_NODE_STATE',
        nodes,
        ...(message === undefined ? {} : { message }),
      };
    }
    for (const what of ['agent_event', 'debug_event']) if (obj(response[what])) return { kind: 'ignored', what };
    return { kind: 'drop', reason: 'not_a_flow' };
  }

  /** One Flow message; `outer` is the enclosing response (its `time` and `node_name` are fallbacks). */
  flow(flow: Obj, outer: Obj | undefined, fallbackId: () => string, observedUs: number): HubbleEvent {
    const timeValue = flow.time ?? outer?.time;
    const eventUs = timestampUs(timeValue);
    if (eventUs === undefined)
      return {
        kind: 'drop',
        reason: timeValue === undefined || timeValue === null ? 'no_event_time' : 'invalid_event_time',
      };

    const uuid = str(flow.uuid);
    const id = uuid === undefined ? fallbackId() : recordId('hubble-flow', uuid);
    const ip = obj(flow.IP);
    const srcIp = str(ip?.source);
    let dstIp = str(ip?.destination);

    const l4 = obj(flow.l4);
    let protocol: string | undefined;
    let ports: Obj | undefined;
    for (const p of L4) {
      const v = obj(l4?.[p]);
      if (v) {
        protocol = p;
        ports = p === 'TCP' || p === 'UDP' || p === 'SCTP' ? v : undefined;
        break;
      }
    }
    const srcPort = uint(ports?.source_port, 65535) || undefined;
    let dstPort = uint(ports?.destination_port, 65535) || undefined;
    let tcpFlags: string | undefined;
    const flags = protocol === 'TCP' ? obj(ports?.flags) : undefined;
    if (flags) {
      const set = TCP_FLAGS.filter((f) => flags[f] === true);
      if (set.length) tcpFlags = set.join(',');
    }

    const verdict = enumName(flow.verdict, ENUMS.verdict) ?? 'VERDICT_UNKNOWN';
    let dropReason = enumName(flow.drop_reason_desc, ENUMS.dropReason);
    if (dropReason === 'DROP_REASON_UNKNOWN') dropReason = undefined;
    if (dropReason === undefined) {
      const legacy = uint(flow.drop_reason, 0xffff_ffff);
      if (legacy) dropReason = ENUMS.dropReason.get(legacy) ?? `DROP_REASON_${legacy}`;
    }
    let direction = enumName(flow.traffic_direction, ENUMS.trafficDirection);
    if (direction === 'TRAFFIC_DIRECTION_UNKNOWN') direction = undefined;
    let point = enumName(flow.trace_observation_point, ENUMS.observationPoint);
    if (point === 'UNKNOWN_POINT') point = undefined;
    let eventType = enumName(flow.Type, ENUMS.flowType);
    if (eventType === 'UNKNOWN_TYPE') eventType = undefined;
    // `reply` cannot say false (proto3 default), so only its true counts; is_reply says both.
    const isReply = boolValue(flow.is_reply) ?? (flow.reply === true ? true : undefined);

    // Socket-LB: the frontend (Service address) and backend are reported by
    // separate events of one socket; each row carries both once seen.
    let preIp: string | undefined;
    let prePort: number | undefined;
    const sock = SOCK_POINTS[enumName(flow.sock_xlate_point, ENUMS.sockXlatePoint) ?? ''];
    if (sock) {
      point = sock.name;
      const seen = this.remember(u64(flow.socket_cookie), sock.role, { ip: dstIp, port: dstPort });
      preIp = seen.frontend?.ip;
      prePort = seen.frontend?.port;
      dstIp = seen.backend?.ip;
      dstPort = seen.backend?.port;
    }

    const src = obj(flow.source);
    const dst = obj(flow.destination);
    const srcService = obj(flow.source_service);
    const dstService = obj(flow.destination_service);

    const l7 = obj(flow.l7);
    const http = obj(l7?.http);
    const dns = obj(l7?.dns);
    const l7Protocol = http ? 'http' : dns ? 'dns' : obj(l7?.kafka) ? 'kafka' : undefined;
    let l7Type = l7 ? enumName(l7.type, ENUMS.l7Type) : undefined;
    if (l7Type === 'UNKNOWN_L7_TYPE') l7Type = undefined;
    const latencyNs = u64(l7?.latency_ns);
    const latencyUs = latencyNs ? Number(latencyNs / 1000n) : undefined;

    let requestId: string | undefined;
    let traceId: string | undefined;
    let spanId: string | undefined;
    let path: string | undefined;
    if (http) {
      const headers = correlationHeaders(http.headers);
      requestId = headers.get('x-request-id');
      const ids = traceIdsFromHeaders((name) => headers.get(name));
      traceId = ids.traceId;
      spanId = ids.spanId;
      const url = str(http.url);
      if (url !== undefined) path = splitTarget(url).path || '/';
    }
    if (traceId === undefined) {
      const fromContext = str(obj(obj(flow.trace_context)?.parent)?.trace_id)?.toLowerCase();
      if (fromContext && HEX32.test(fromContext) && fromContext !== '0'.repeat(32)) traceId = fromContext;
    }

    const row: FlowRow = {
      record_id: id,
      event_time: eventUs,
      observed_time: observedUs,
      node: this.node,
      source: this.source,
      schema_version: SCHEMA_VERSION,
      src_ip: srcIp,
      src_port: srcPort,
      dst_ip: dstIp,
      dst_port: dstPort,
      l4_protocol: protocol,
      tcp_flags: tcpFlags,
      verdict,
      drop_reason: dropReason,
      traffic_direction: direction,
      observation_point: point,
      is_reply: isReply,
      event_type: eventType,
      src_namespace: str(src?.namespace),
      src_pod: str(src?.pod_name),
      src_workload: workload(src),
      src_labels: labels(src),
      src_identity: uint(src?.identity, 0xffff_ffff) || undefined,
      dst_namespace: str(dst?.namespace),
      dst_pod: str(dst?.pod_name),
      dst_workload: workload(dst),
      dst_labels: labels(dst),
      dst_identity: uint(dst?.identity, 0xffff_ffff) || undefined,
      dst_service_namespace: str(dstService?.namespace),
      dst_service_name: str(dstService?.name),
      src_service_namespace: str(srcService?.namespace),
      src_service_name: str(srcService?.name),
      pre_translation_dst_ip: preIp,
      pre_translation_dst_port: prePort,
      reported_node: str(flow.node_name) ?? str(outer?.node_name),
      l7_type: l7Type,
      l7_protocol: l7Protocol,
      http_method: str(http?.method),
      http_status: uint(http?.code, 999) || undefined,
      http_path: path,
      http_protocol: str(http?.protocol),
      l7_latency_us: latencyUs !== undefined && Number.isSafeInteger(latencyUs) ? latencyUs : undefined,
      dns_query: str(dns?.query),
      request_id: requestId,
      trace_id: traceId,
      span_id: spanId,
      flow_uuid: uuid,
    };
    return { kind: 'flow', row, dedupeKey: uuid ?? id, eventUs };
  }

  private remember(cookie: bigint | undefined, role: 'frontend' | 'backend', address: Address): SocketXlate {
    if (!cookie) return { [role]: address };
    const key = cookie.toString();
    const entry = this.sockets.get(key) ?? {};
    this.sockets.delete(key);
    entry[role] = address;
    this.sockets.set(key, entry);
    if (this.sockets.size > this.maxSockets) this.sockets.delete(this.sockets.keys().next().value!);
    return entry;
  }
}

/** The allow-listed headers only, by lowercase name (first occurrence wins). */
function correlationHeaders(list: unknown): Map<string, string> {
  const out = new Map<string, string>();
  for (const h of arr(list)) {
    const header = obj(h);
    const key = typeof header?.key === 'string' ? header.key.toLowerCase() : undefined;
    const value = str(header?.value);
    if (key && value !== undefined && ALLOWED_HEADERS.has(key) && !out.has(key)) out.set(key, value);
  }
  return out;
}

/** Hubble labels are `source:key=value` strings; the key keeps its source prefix. */
function labels(endpoint: Obj | undefined): Record<string, string> | undefined {
  const list = arr(endpoint?.labels);
  if (!list.length) return undefined;
  // No prototype: a label named `__proto__` or `constructor` is data, not a property of Object.
  const out: Record<string, string> = Object.create(null);
  for (const l of list) {
    if (typeof l !== 'string' || l === '') continue;
    const eq = l.indexOf('=');
    const key = eq === -1 ? l : l.slice(0, eq);
    if (!Object.hasOwn(out, key)) out[key] = eq === -1 ? '' : l.slice(eq + 1);
  }
  return out;
}

function workload(endpoint: Obj | undefined): string | undefined {
  const w = obj(arr(endpoint?.workloads)[0]);
  const name = str(w?.name);
  if (!name) return undefined;
  const kind = str(w?.kind);
  return kind ? `${kind}/${name}` : name;
}

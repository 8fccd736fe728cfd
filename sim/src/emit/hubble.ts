// What Cilium's Hubble reports of the simulated traffic, as protojson —
// the lines of the Hubble exporter's file (`{"flow":…,"node_name":…,"time":…}`)
// and, converted, the GetFlowsResponse messages of the Observer API. Keys are
// the proto field names, in field-number order; enums by name; 64-bit
// integers as strings; defaults omitted.
import { hash } from 'node:crypto';
import type { Cluster, Pod, SimNode } from '../model.ts';
import type { Connection, NetEvent } from '../observations.ts';
import { isoNanos } from '../time.ts';

export type Json = Record<string, unknown>;

const num = (s: string, mod: number, min = 0) =>
  min + (Number.parseInt(hash('sha256', s, 'hex').slice(0, 8), 16) % mod);

/** Cilium security identity of a workload's label set (stable per workload). */
export function identityOf(pod: Pod): number {
  return num(`identity/${pod.workload.key}`, 50_000, 10_000);
}

function podEndpoint(pod: Pod, local: boolean): Json {
  const w = pod.workload;
  const labels = [
    ...Object.entries(w.labels)
      .filter(([k]) => k !== 'pod-template-hash')
      .map(([k, v]) => `k8s:${k}=${v}`),
    `k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=${pod.namespace}`,
    'k8s:io.cilium.k8s.policy.cluster=default',
    `k8s:io.cilium.k8s.policy.serviceaccount=${w.name}`,
    `k8s:io.kubernetes.pod.namespace=${pod.namespace}`,
  ].sort();
  const e: Json = {};
  if (local) e.ID = num(`endpoint/${pod.uid}`, 4000, 40);
  e.identity = identityOf(pod);
  e.namespace = pod.namespace;
  e.labels = labels;
  e.pod_name = pod.name;
  e.workloads = [{ name: w.name, kind: 'Deployment' }];
  return e;
}

const WORLD: Json = { identity: 2, labels: ['reserved:world'] };

const TRACE_SUBTYPE: Record<string, number> = { TO_ENDPOINT: 0, TO_STACK: 3 };

export interface HubbleContext {
  readonly cluster: Cluster;
  readonly clusterName: string;
}

export function reportedNode(ctx: HubbleContext, node: SimNode): string {
  return `${ctx.clusterName}/${node.name}`;
}

/** One datapath event as a Hubble Flow (protojson). */
export function flowOf(ctx: HubbleContext, e: NetEvent, uuid: string, nanos: number): Json {
  const c = e.conn;
  const observer = e.observer;
  const reply =
    e.kind === 'synack' ||
    e.kind === 'finack' ||
    e.kind === 'rst' ||
    e.kind === 'data_reply' ||
    e.kind === 'l7_response';
  // Addresses as this observation point sees them: kube-proxy translates in the host
  // stack, after the source pod's egress and before the backend's ingress; socket-LB
  // translates in the socket, so packets only ever carry the backend.
  const preDnatAtSource = c.translation === 'kube-proxy' && e.side === 'src';
  const far = preDnatAtSource ? { ip: c.dst.ip, port: c.dst.port } : { ip: c.backend.ip, port: c.backend.port };
  let src = { ip: c.src.ip, port: c.src.port as number | undefined };
  let dst = { ip: far.ip, port: far.port as number | undefined };
  let srcEp: Json = c.src.pod ? podEndpoint(c.src.pod, c.src.pod.node === observer) : WORLD;
  let dstEp: Json =
    preDnatAtSource || !c.backend.pod ? WORLD : podEndpoint(c.backend.pod, c.backend.pod.node === observer);
  if (e.kind === 'sock_pre' || e.kind === 'sock_post') {
    const pre = e.kind === 'sock_pre';
    dst = pre ? { ip: c.dst.ip, port: c.dst.port } : { ip: c.backend.ip, port: c.backend.port };
    dstEp = pre || !c.backend.pod ? WORLD : podEndpoint(c.backend.pod, c.backend.pod.node === observer);
    src = { ip: c.src.ip, port: undefined };
  }
  if (reply) {
    [src, dst] = [dst, src];
    [srcEp, dstEp] = [dstEp, srcEp];
  }
  const time = isoNanos(e.atUs + observer.skewUs, nanos);
  const f: Json = { time, verdict: 'FORWARDED' };
  if (e.kind === 'drop') {
    f.verdict = 'DROPPED';
    f.drop_reason = 133;
  }
  if (e.kind === 'sock_pre' || e.kind === 'sock_post') f.verdict = 'TRACED';
  f.IP = { source: src.ip, destination: dst.ip, ipVersion: 'IPv4' };
  const tcp: Json = {};
  if (src.port) tcp.source_port = src.port;
  if (dst.port) tcp.destination_port = dst.port;
  const flags: Record<string, boolean> = {};
  if (e.kind === 'syn' || e.kind === 'drop') flags.SYN = true;
  if (e.kind === 'synack') Object.assign(flags, { SYN: true, ACK: true });
  if (e.kind === 'rst') Object.assign(flags, { RST: true, ACK: true });
  if (e.kind === 'fin' || e.kind === 'finack') Object.assign(flags, { FIN: true, ACK: true });
  if (e.kind === 'data' || e.kind === 'data_reply') Object.assign(flags, { PSH: true, ACK: true });
  if (Object.keys(flags).length) tcp.flags = flags;
  f.l4 = { TCP: tcp };
  f.source = srcEp;
  f.destination = dstEp;
  const l7 = e.kind === 'l7_request' || e.kind === 'l7_response';
  const sock = e.kind === 'sock_pre' || e.kind === 'sock_post';
  f.Type = l7 ? 'L7' : sock ? 'SOCK' : 'L3_L4';
  f.node_name = reportedNode(ctx, observer);
  if (l7 && e.l7) {
    const http: Json = {};
    if (e.l7.code !== undefined) http.code = e.l7.code;
    http.method = e.l7.method;
    http.url = e.l7.url;
    http.protocol = e.l7.protocol;
    http.headers = e.l7.headers;
    const layer: Json = { type: e.kind === 'l7_request' ? 'REQUEST' : 'RESPONSE' };
    if (e.l7.latencyUs !== undefined) layer.latency_ns = String(e.l7.latencyUs * 1000);
    layer.http = http;
    f.l7 = layer;
  }
  if (reply && !l7) f.reply = true;
  if (l7) f.event_type = { type: 129 };
  else if (e.kind === 'drop') f.event_type = { type: 1, sub_type: 133 };
  else if (!sock) {
    const point = observationPoint(e, reply);
    f.event_type = { type: 4, sub_type: TRACE_SUBTYPE[point] };
  }
  if (sock && e.kind === 'sock_pre' && c.service)
    f.destination_service = { name: c.service.name, namespace: c.service.namespace };
  if (preDnatAtSource && c.service && !reply)
    f.destination_service = { name: c.service.name, namespace: c.service.namespace };
  if (preDnatAtSource && c.service && reply)
    f.source_service = { name: c.service.name, namespace: c.service.namespace };
  f.traffic_direction = e.side === 'src' ? 'EGRESS' : 'INGRESS';
  if (!l7 && !sock && e.kind !== 'drop') f.trace_observation_point = observationPoint(e, reply);
  if (e.kind === 'drop') f.drop_reason_desc = 'POLICY_DENIED';
  if (!sock) f.is_reply = reply;
  if (sock) {
    f.sock_xlate_point =
      e.kind === 'sock_pre' ? 'SOCK_XLATE_POINT_PRE_DIRECTION_FWD' : 'SOCK_XLATE_POINT_POST_DIRECTION_FWD';
    f.socket_cookie = String(c.cookie);
  }
  f.uuid = uuid;
  f.Summary = summary(e, f);
  return f;
}

function observationPoint(e: NetEvent, reply: boolean): 'TO_ENDPOINT' | 'TO_STACK' {
  // Towards the local endpoint: TO_ENDPOINT; leaving it: TO_STACK.
  const towardsLocal = (e.side === 'dst') !== reply;
  return towardsLocal ? 'TO_ENDPOINT' : 'TO_STACK';
}

function summary(e: NetEvent, f: Json): string {
  if (e.l7) return `${e.l7.protocol} ${e.l7.method} ${e.l7.url}`;
  const flags = ((f.l4 as Json).TCP as Json).flags as Record<string, boolean> | undefined;
  return `TCP Flags: ${Object.keys(flags ?? {}).join(', ')}`;
}

/** An export-file line (the same shape as a GetFlowsResponse in protojson). */
export function exportLine(ctx: HubbleContext, node: SimNode, flow: Json): string {
  return JSON.stringify({ flow, node_name: reportedNode(ctx, node), time: flow.time });
}

/** A LostEvent line: flows the perf ring buffer dropped before Hubble saw them. */
export function lostLine(ctx: HubbleContext, node: SimNode, atUs: number, count: number, cpu: number): string {
  return JSON.stringify({
    lost_events: { source: 'PERF_EVENT_RING_BUFFER', num_events_lost: String(count), cpu: { value: cpu } },
    node_name: reportedNode(ctx, node),
    time: isoNanos(atUs + node.skewUs, 0),
  });
}

export type { Connection };

// Hubble flows for tests, written as protojson (what the export file and
// `hubble observe -o jsonpb` contain), and converted to the object form
// protobufjs encodes (what the gRPC test server sends).
import { formatUs } from '../../agent/src/contract/time.ts';

export type Json = Record<string, unknown>;

const pods = ['shop-7d9f8c6b5-x2x9q', 'cart-5f6d7c8b9-k4k2m', 'pay-6c7d8e9f0-a1b2c'];

/** A TCP flow between two pods at `timeUs`, with uuid `flow-<i>`. */
export function tcpFlow(i: number, timeUs: number, extra: Json = {}): Json {
  return {
    time: formatNanos(timeUs, i % 1000),
    uuid: `flow-${i}`,
    verdict: 'FORWARDED',
    IP: { source: `10.244.1.${(i % 250) + 2}`, destination: '10.244.2.21', ipVersion: 'IPv4' },
    l4: { TCP: { source_port: 30000 + (i % 30000), destination_port: 8080, flags: { SYN: i % 2 === 0, ACK: true } } },
    source: {
      ID: 1200 + (i % 7),
      identity: 41230,
      namespace: 'shop',
      labels: ['k8s:app=shop', 'k8s:io.kubernetes.pod.namespace=shop', 'k8s:io.cilium.k8s.policy.cluster=default'],
      pod_name: pods[i % pods.length],
      workloads: [{ name: 'shop', kind: 'Deployment' }],
    },
    destination: {
      identity: 52110,
      namespace: 'cart',
      labels: ['k8s:app=cart', 'k8s:io.kubernetes.pod.namespace=cart'],
      pod_name: 'cart-5f6d7c8b9-k4k2m',
      workloads: [{ name: 'cart', kind: 'Deployment' }],
    },
    Type: 'L3_L4',
    node_name: 'default/node-a',
    event_type: { type: 4, sub_type: 3 },
    traffic_direction: 'EGRESS',
    trace_observation_point: 'TO_STACK',
    is_reply: false,
    Summary: 'TCP Flags: SYN',
    ...extra,
  };
}

/** RFC 3339 with nanoseconds, as protojson writes Timestamps. */
export function formatNanos(timeUs: number, extraNanos = 0): string {
  const base = formatUs(timeUs);
  return `${base.slice(0, -1)}${String(extraNanos).padStart(3, '0')}Z`;
}

/** protojson Flow → the object protobufjs `fromObject` takes (Timestamps and wrappers as messages). */
export function toProtoObject(flow: Json): Json {
  const out: Json = { ...flow };
  if (typeof flow.time === 'string') out.time = timestampObject(flow.time);
  if (typeof flow.is_reply === 'boolean') out.is_reply = { value: flow.is_reply };
  delete out.Summary;
  return out;
}

export function timestampObject(rfc3339: string): { seconds: number; nanos: number } {
  const m = /^(.*?)(?:\.(\d{1,9}))?Z$/.exec(rfc3339)!;
  const seconds = Math.floor(Date.parse(`${m[1]}Z`) / 1000);
  return { seconds, nanos: Number((m[2] ?? '').padEnd(9, '0')) };
}

/** A GetFlowsResponse carrying a flow, as the server publishes it. */
export function flowResponse(flow: Json): Json {
  const proto = toProtoObject(flow);
  return { flow: proto, node_name: 'default/node-a', time: proto.time };
}

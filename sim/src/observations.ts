// What the simulated components record, before it is written in their
// native formats: proxy access records, network events (what Hubble or
// Calico see of a connection), spans, and other container log lines. Each
// carries the request it belongs to, so the faults that remove or delay it
// can be reflected in the ground truth.
import type { Pod, Service, SimNode } from './model.ts';

/** Which piece of evidence an observation is, for the truth's evidence summary. */
export type EvidenceKind =
  | 'ingress_log'
  | 'sidecar_inbound_log'
  | 'sidecar_outbound_log'
  | 'server_span'
  | 'client_span'
  | 'ingress_span'
  | 'flow'
  | 'l7_flow';

export interface Tag {
  /** Truth request id (`r-000001`). */
  readonly req: string;
  /** Hop within the request: `ingress`, `attempt-1`, `downstream-2`, … */
  readonly hop: string;
  readonly evidence: EvidenceKind;
}

export interface UpstreamTry {
  readonly address: string;
  readonly port: number;
  /** Status of this try (nginx logs 502 for a refused connection, 504 for a timeout). */
  readonly status: number | null;
  readonly timeUs: number;
  readonly bytes: number | null;
}

export interface NginxRecord {
  readonly kind: 'nginx';
  readonly pod: Pod;
  readonly container: string;
  /** Request end (true time); the line is written then. */
  readonly endUs: number;
  readonly writeUs: number;
  readonly remoteAddr: string;
  readonly method: string;
  readonly target: string;
  readonly protocol: string;
  readonly status: number;
  readonly bodyBytesSent: number;
  readonly userAgent: string;
  readonly requestLength: number;
  readonly requestTimeUs: number;
  readonly upstreamName: string;
  readonly tries: readonly UpstreamTry[];
  readonly reqId: string;
  readonly tags: Tag[];
}

export interface EnvoyRecord {
  readonly kind: 'envoy';
  /** istio: Istio's default text format; gateway: Envoy Gateway's default JSON format. */
  readonly format: 'istio' | 'gateway';
  readonly pod: Pod;
  readonly container: string;
  readonly startUs: number;
  readonly writeUs: number;
  readonly method: string;
  readonly target: string;
  readonly protocol: string;
  readonly status: number;
  readonly flags: string;
  readonly details: string;
  readonly bytesReceived: number;
  readonly bytesSent: number;
  readonly durationUs: number;
  readonly upstreamServiceTimeUs: number | undefined;
  readonly forwardedFor: string | undefined;
  readonly userAgent: string;
  readonly requestId: string | undefined;
  readonly authority: string;
  readonly upstreamHost: string | undefined;
  readonly upstreamCluster: string;
  readonly upstreamLocal: string | undefined;
  readonly downstreamLocal: string;
  readonly downstreamRemote: string;
  readonly serverName: string | undefined;
  readonly routeName: string | undefined;
  readonly tags: Tag[];
}

/** A line a container writes that is not an access record (errors, startup, app logs). */
export interface OtherLine {
  readonly kind: 'other';
  readonly pod: Pod;
  readonly container: string;
  readonly stream: 'stdout' | 'stderr';
  readonly writeUs: number;
  /** Formats the line with the node's clock (true time + skew). */
  readonly text: (nodeTimeUs: number) => string;
  readonly tags: Tag[];
}

export type LogRecord = NginxRecord | EnvoyRecord | OtherLine;

/** One side of a connection: a pod, a node, or an address outside the cluster. */
export interface Peer {
  readonly ip: string;
  readonly port: number;
  readonly pod: Pod | undefined;
}

export interface Connection {
  readonly id: number;
  readonly src: Peer;
  /** What the client connected to (a Service ClusterIP, or a pod). */
  readonly dst: { readonly ip: string; readonly port: number };
  /** Where it went after translation. */
  readonly backend: Peer;
  readonly service: Service | undefined;
  readonly translation: 'none' | 'kube-proxy' | 'ebpf';
  readonly openedUs: number;
  /** Socket cookie (eBPF socket-LB). */
  readonly cookie: bigint;
  /** Dropped by a NetworkPolicy at the destination: never established. */
  readonly denied: boolean;
  /** Refused (RST) by the destination. */
  readonly refused: boolean;
  busyUntilUs: number;
  lastEndUs: number;
  closedUs: number | undefined;
  /** Requests carried: start, end, bytes in each direction. */
  readonly uses: { startUs: number; endUs: number; bytesOut: number; bytesIn: number }[];
  /** Idle time after which the client closes it. */
  readonly idleUs: number;
  readonly tags: Tag[];
}

export type NetEventKind =
  | 'syn'
  | 'synack'
  | 'rst'
  | 'data'
  | 'data_reply'
  | 'fin'
  | 'finack'
  | 'drop'
  | 'sock_pre'
  | 'sock_post'
  | 'l7_request'
  | 'l7_response';

export interface NetEvent {
  readonly kind: NetEventKind;
  /** True time. */
  readonly atUs: number;
  readonly conn: Connection;
  /** The node whose datapath observed it. */
  readonly observer: SimNode;
  /** Which endpoint of the connection is local to the observer. */
  readonly side: 'src' | 'dst';
  readonly l7?: {
    readonly method: string;
    readonly url: string;
    readonly protocol: string;
    readonly code?: number;
    readonly latencyUs?: number;
    readonly headers: readonly { key: string; value: string }[];
  };
  readonly tags: Tag[];
}

export interface SpanRecord {
  readonly pod: Pod;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly kind: 2 | 3;
  readonly name: string;
  readonly startUs: number;
  readonly endUs: number;
  readonly statusCode: 0 | 2;
  readonly attributes: Readonly<Record<string, string | number | readonly string[]>>;
  readonly scope: string;
  readonly tags: Tag[];
}

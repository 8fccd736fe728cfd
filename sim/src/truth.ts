// Ground truth: for every external request, the hops it really took. One
// JSON object per line in truth.jsonl, times as RFC 3339 with microseconds.
import type { Pod } from './model.ts';
import type { EvidenceKind } from './observations.ts';

export interface PodRef {
  readonly namespace: string;
  readonly pod: string;
  readonly uid: string;
  readonly container: string;
  readonly node: string;
  readonly ip: string;
  readonly port: number;
  readonly workload: string;
}

export type Routing = 'endpoints_by_ingress' | 'kube_proxy_dnat' | 'ebpf_socket_lb' | 'sidecar_endpoints';

export type Outcome = 'ok' | 'timeout' | 'refused' | 'policy_denied';

export interface TruthAttempt {
  readonly address: string;
  readonly port: number;
  readonly routing: Routing;
  /** The pod the connection reached (none when it was refused before a pod took it). */
  readonly target: PodRef | null;
  readonly outcome: Outcome;
  readonly status: number | null;
  readonly start: string;
  readonly end: string;
  /** The proxy's side of the upstream connection, and whether this attempt opened it. */
  readonly connection: { readonly src_ip: string; readonly src_port: number; readonly opened: boolean };
}

export interface TruthCall {
  readonly hop: string;
  /** The hop that made this call (`attempt-2`, `downstream-1`). */
  readonly parent: string;
  readonly from: PodRef;
  readonly service: {
    readonly namespace: string;
    readonly name: string;
    readonly cluster_ip: string;
    readonly port: number;
  };
  readonly via: 'sidecar' | 'direct';
  readonly routing: Routing;
  readonly target: PodRef | null;
  readonly outcome: Outcome;
  readonly status: number | null;
  readonly start: string;
  readonly end: string;
  readonly request_id: string | null;
  readonly trace_id: string | null;
  readonly connection: { readonly src_ip: string; readonly src_port: number; readonly opened: boolean };
}

export interface TruthRequest {
  readonly id: string;
  readonly start: string;
  readonly end: string;
  readonly client: { readonly ip: string; readonly port: number };
  readonly lb: { readonly vip: string; readonly ip: string; readonly port: number };
  readonly ingress: PodRef & { readonly controller: string };
  /** x-request-id as the ingress logged it and forwarded it. */
  readonly request_id: string;
  /** Trace id the request carried past the ingress (client `traceparent`), if any. */
  readonly trace_id: string | null;
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  readonly status: number;
  readonly route: string;
  readonly service: {
    readonly namespace: string;
    readonly name: string;
    readonly cluster_ip: string;
    readonly port: number;
  };
  readonly routing: Routing;
  readonly attempts: TruthAttempt[];
  /** The pod that produced the final response (null when no attempt reached one). */
  readonly target: PodRef | null;
  readonly downstream: TruthCall[];
  /** Evidence emitted (after faults) per hop: hop → kinds. */
  evidence: Record<string, EvidenceKind[]>;
  /** Evidence that a fault removed or delayed: `lost:ingress_log@ingress`, `late:flow@attempt-1`, … */
  faults: string[];
}

export function podRef(p: Pod, container: string, port: number): PodRef {
  return {
    namespace: p.namespace,
    pod: p.name,
    uid: p.uid,
    container,
    node: p.node.name,
    ip: p.ip,
    port,
    workload: `Deployment/${p.workload.name}`,
  };
}

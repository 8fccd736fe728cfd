// The simulated cluster: nodes, workloads, pods over time, Services, the
// ingress controllers and their routes, and the load balancers and clients in
// front of them. Times are epoch microseconds (true time; node clocks may be
// skewed when they stamp what they observe).

export interface SimNode {
  readonly name: string;
  readonly uid: string;
  readonly index: number;
  readonly ip: string;
  readonly podCidr: string;
  readonly zone: string;
  /** Clock offset of this node (µs): what it stamps is true time + skew. */
  skewUs: number;
}

export type WorkloadRole = 'app' | 'ingress-nginx' | 'envoy-gateway';

export interface Endpoint {
  readonly namespace: string;
  readonly name: string;
}

export interface Workload {
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly role: WorkloadRole;
  readonly replicas: number;
  /** pod-template-hash, and the ReplicaSet `<name>-<hash>`. */
  readonly templateHash: string;
  readonly replicaSetUid: string;
  /** The serving container and its port. */
  readonly container: string;
  readonly port: number;
  readonly portName: string;
  readonly image: string;
  readonly sidecar: boolean;
  /** OpenTelemetry SDK: SERVER and CLIENT spans sent to the node's agent. */
  readonly tracing: boolean;
  /** The SDK records `http.request.header.x-request-id` on server spans. */
  readonly capturesRequestId: boolean;
  /** The app copies the incoming x-request-id onto its outgoing calls. */
  readonly propagatesRequestId: boolean;
  /** Hubble sees this workload's inbound HTTP at L7 (an L7 policy redirects it to the proxy). */
  readonly l7Visible: boolean;
  /** Service keys this workload calls while serving a request. */
  readonly calls: string[];
  readonly tier: number;
  /** Route templates this workload serves (`/api/v1/cart/{id}`). */
  readonly routes: readonly string[];
  /** Median own processing time, µs. */
  readonly latencyUs: number;
  readonly labels: Readonly<Record<string, string>>;
}

export interface Pod {
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  readonly workload: Workload;
  readonly node: SimNode;
  readonly ip: string;
  /** Container name → 64-hex container id. */
  readonly containerIds: Readonly<Record<string, string>>;
  readonly createdUs: number;
  /** Sandbox up, IP assigned, containers starting. */
  readonly runningUs: number;
  readonly readyUs: number;
  /** deletionTimestamp set: out of the endpoints, connections closed. */
  terminatingUs: number | undefined;
  /** Gone: the IP is free again. */
  deletedUs: number | undefined;
  /** The pod this one replaced (churn), when any. */
  readonly replaces: string | undefined;
}

export interface Service {
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly workload: Workload;
  readonly type: 'ClusterIP' | 'LoadBalancer';
  readonly clusterIp: string;
  readonly port: number;
  readonly portName: string;
  readonly targetPort: number;
  /** LoadBalancer Services: the address clients connect to, and its node ports. */
  readonly lbIp: string | undefined;
  readonly nodePort: number | undefined;
  readonly sliceName: string;
  readonly sliceUid: string;
  readonly createdUs: number;
}

export type Controller = 'ingress-nginx' | 'envoy-gateway';

export interface Route {
  readonly controller: Controller;
  /** Ingress or HTTPRoute name. */
  readonly name: string;
  readonly host: string;
  readonly service: Service;
  /** ingress-nginx `service-upstream: "true"`: proxy to the ClusterIP instead of the endpoints. */
  readonly serviceUpstream: boolean;
  /** Proxy read timeout, µs. */
  readonly timeoutUs: number;
}

export interface LoadBalancer {
  readonly controller: Controller;
  /** Public address clients connect to. */
  readonly vip: string;
  /** Addresses the LB connects to the ingress pods from (IP target mode). */
  readonly snatIps: readonly string[];
  readonly service: Service;
}

export interface Client {
  readonly ip: string;
  readonly userAgent: string;
  /** Some clients set their own X-Request-ID. */
  readonly sendsRequestId: boolean;
  readonly sendsTraceparent: boolean;
}

export interface Cluster {
  readonly name: string;
  readonly nodes: readonly SimNode[];
  readonly namespaces: readonly string[];
  readonly workloads: readonly Workload[];
  readonly services: readonly Service[];
  readonly serviceByKey: ReadonlyMap<string, Service>;
  /** Every pod that ever existed in the run, in creation order. */
  readonly pods: Pod[];
  /** The same pods by workload. */
  readonly podsByWorkload: Map<Workload, Pod[]>;
  readonly routes: readonly Route[];
  readonly lbs: readonly LoadBalancer[];
  readonly clients: readonly Client[];
  /** `<source workload key>→<service key>` edges a NetworkPolicy denies. */
  readonly deniedEdges: ReadonlySet<string>;
  readonly startUs: number;
  readonly endUs: number;
}

/** Pods of a workload that are endpoints (ready, not terminating) at `t`. */
export function readyPods(cluster: Cluster, workload: Workload, t: number): Pod[] {
  return (cluster.podsByWorkload.get(workload) ?? []).filter(
    (p) => p.readyUs <= t && (p.terminatingUs === undefined || t < p.terminatingUs),
  );
}

/** The pod holding `ip` at `t`, if any. */
export function podAt(cluster: Cluster, ip: string, t: number): Pod | undefined {
  return cluster.pods.find((p) => p.ip === ip && p.runningUs <= t && (p.deletedUs === undefined || t < p.deletedUs));
}

export function fqdn(s: Service): string {
  return `${s.name}.${s.namespace}.svc.cluster.local`;
}

// Deterministic synthetic rows with realistic shapes and cardinalities, for
// the benchmark: a few hundred pods and services, IPs in pod CIDRs, unique
// request and trace ids, paths from a small route set with ids in them.
import type { TableName, TableRows } from '../agent/src/contract/generated.ts';

export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const T0 = 1_795_590_000_000_000; // 2026-11-25T07:00:00Z in µs
const hex = (r: () => number, n: number) => {
  let s = '';
  for (let i = 0; i < n; i++) s += ((r() * 16) | 0).toString(16);
  return s;
};
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[(r() * xs.length) | 0]!;
const routes = [
  '/api/v1/cart',
  '/api/v1/cart/checkout',
  '/api/v2/orders',
  '/healthz',
  '/api/v1/users',
  '/grpc.health.v1.Health/Check',
];
const namespaces = ['shop', 'payments', 'search', 'identity', 'ingress-nginx', 'istio-system'];
const podIp = (r: () => number) => `10.244.${(r() * 250) | 0}.${((r() * 250) | 0) + 2}`;
const pod = (r: () => number) => `svc-${(r() * 120) | 0}-5d8f7b9c4-${hex(r, 5)}`;

export function makeRow<T extends TableName>(table: T, i: number, r: () => number): TableRows[T] {
  const event = T0 + i * 50 + ((r() * 40) | 0);
  const common = {
    record_id: hex(r, 32),
    event_time: event,
    observed_time: event + 20_000,
    node: 'node-bench',
    schema_version: 1,
  };
  switch (table) {
    case 'http_requests': {
      const status = r() < 0.97 ? 200 : pick(r, [404, 502, 503, 504]);
      const dur = 500 + ((r() * 50_000) | 0);
      return {
        ...common,
        source: 'ingress-nginx',
        start_time: event - dur,
        namespace: 'ingress-nginx',
        pod: 'ingress-nginx-controller-7f9c6d8b5-x2k4p',
        container: 'controller',
        proxy: 'ingress-nginx',
        role: 'ingress',
        request_id: hex(r, 32),
        trace_id: r() < 0.8 ? hex(r, 32) : null,
        method: pick(r, ['GET', 'GET', 'GET', 'POST', 'PUT']),
        authority: 'shop.example.com',
        path: `${pick(r, routes)}/${(r() * 100000) | 0}`,
        protocol: 'HTTP/1.1',
        status,
        duration_us: dur,
        downstream_remote_ip: `192.168.${(r() * 4) | 0}.${(r() * 250) | 0}`,
        downstream_remote_port: 1024 + ((r() * 60000) | 0),
        forwarded_for: [`203.0.113.${(r() * 250) | 0}`],
        upstream_attempts: [{ address: podIp(r), port: 8080, status, duration_us: dur - 200, bytes_received: 512 }],
        upstream_cluster: `${pick(r, namespaces)}-svc-${(r() * 120) | 0}-80`,
        bytes_received: 300 + ((r() * 2000) | 0),
        bytes_sent: 200 + ((r() * 20000) | 0),
        user_agent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
      } as unknown as TableRows[T];
    }
    case 'flows':
      return {
        ...common,
        source: 'hubble-grpc',
        src_ip: podIp(r),
        src_port: 1024 + ((r() * 60000) | 0),
        dst_ip: podIp(r),
        dst_port: pick(r, [8080, 8443, 9090, 53]),
        l4_protocol: 'TCP',
        tcp_flags: pick(r, ['SYN', 'SYN,ACK', 'ACK', 'PSH,ACK', 'FIN,ACK']),
        verdict: r() < 0.995 ? 'FORWARDED' : 'DROPPED',
        traffic_direction: pick(r, ['INGRESS', 'EGRESS']),
        observation_point: pick(r, ['TO_ENDPOINT', 'TO_STACK', 'TO_PROXY']),
        is_reply: r() < 0.5,
        event_type: 'L3_L4',
        src_namespace: pick(r, namespaces),
        src_pod: pod(r),
        src_workload: `Deployment/svc-${(r() * 120) | 0}`,
        src_labels: { app: `svc-${(r() * 120) | 0}`, 'pod-template-hash': '5d8f7b9c4' },
        src_identity: 40000 + ((r() * 500) | 0),
        dst_namespace: pick(r, namespaces),
        dst_pod: pod(r),
        dst_workload: `Deployment/svc-${(r() * 120) | 0}`,
        dst_labels: { app: `svc-${(r() * 120) | 0}` },
        dst_identity: 40000 + ((r() * 500) | 0),
        reported_node: 'node-bench',
        flow_uuid: hex(r, 32),
      } as unknown as TableRows[T];
    case 'spans': {
      const dur = 300 + ((r() * 40_000) | 0);
      return {
        ...common,
        source: 'otlp-grpc',
        trace_id: hex(r, 32),
        span_id: hex(r, 16),
        parent_span_id: r() < 0.7 ? hex(r, 16) : null,
        kind: pick(r, ['SERVER', 'CLIENT', 'INTERNAL']),
        name: `${pick(r, ['GET', 'POST'])} ${pick(r, routes)}`,
        service_name: `svc-${(r() * 120) | 0}`,
        k8s_namespace: pick(r, namespaces),
        k8s_pod: pod(r),
        k8s_node: 'node-bench',
        start_time: event - dur,
        end_time: event,
        duration_us: dur,
        status_code: r() < 0.98 ? 'UNSET' : 'ERROR',
        http_method: 'GET',
        http_route: pick(r, routes),
        http_status: 200,
        server_address: podIp(r),
        server_port: 8080,
        request_id: hex(r, 32),
      } as unknown as TableRows[T];
    }
    case 'k8s_objects':
      return {
        ...common,
        source: 'k8s-watch',
        kind: 'Pod',
        uid: `${hex(r, 8)}-${hex(r, 4)}-${hex(r, 4)}-${hex(r, 4)}-${hex(r, 12)}`,
        namespace: pick(r, namespaces),
        name: pod(r),
        resource_version: String(800000 + i),
        change_type: pick(r, ['ADDED', 'MODIFIED', 'MODIFIED', 'DELETED']),
        labels: { app: `svc-${(r() * 120) | 0}`, version: 'v2', 'pod-template-hash': '5d8f7b9c4' },
        owner_kind: 'Deployment',
        owner_name: `svc-${(r() * 120) | 0}`,
        pod_ips: [podIp(r)],
        host_ip: `192.168.10.${(r() * 250) | 0}`,
        node_name: 'node-bench',
        phase: 'Running',
        ready: true,
        containers: [
          {
            name: 'app',
            container_id: hex(r, 64),
            image: 'registry.example.com/app:2.4.0',
            ready: true,
            is_init: false,
            ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
          },
          {
            name: 'istio-proxy',
            container_id: hex(r, 64),
            image: 'docker.io/istio/proxyv2:1.24.2',
            ready: true,
            is_init: true,
            ports: [],
          },
        ],
      } as unknown as TableRows[T];
    case 'k8s_events':
      return {
        ...common,
        source: 'k8s-watch',
        uid: hex(r, 32),
        namespace: pick(r, namespaces),
        name: `${pod(r)}.${hex(r, 16)}`,
        resource_version: String(900000 + i),
        reason: pick(r, ['Unhealthy', 'Killing', 'Pulled', 'Scheduled', 'BackOff']),
        type: r() < 0.7 ? 'Normal' : 'Warning',
        message: 'Readiness probe failed: HTTP probe failed with statuscode: 503',
        involved_kind: 'Pod',
        involved_namespace: pick(r, namespaces),
        involved_name: pod(r),
        count: 1 + ((r() * 5) | 0),
        first_time: event - 60_000_000,
        last_time: event,
        reporting_component: 'kubelet',
        reporting_instance: 'node-bench',
      } as unknown as TableRows[T];
    case 'agent_heartbeats':
      return {
        ...common,
        source: 'agent',
        epoch: '1795590000000',
        agent_version: '0.1.0',
        started_at: T0,
        heartbeat_seq: i,
        tables: ['flows', 'http_requests', 'spans'].map((t) => ({
          table: t,
          last_seq: i,
          uploaded_seq: i - 1,
          flushed_through: event - 1,
          records_in: i * 1000,
          records_spooled: i * 1000,
          records_buffered: 10,
        })),
        drops: [{ table: 'flows', source: 'hubble-grpc', reason: 'spool_full', count: i }],
        losses: [],
        spool_bytes: 1 << 20,
        spool_files: 2,
      } as unknown as TableRows[T];
  }
  throw new Error(`no generator for ${table}`);
}

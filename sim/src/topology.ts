// Builds the cluster as it stands when the simulated traffic starts: nodes
// with pod CIDRs, application namespaces and Deployments with their Services,
// ingress-nginx and an Envoy Gateway behind cloud load balancers, the routes
// they serve, and the clients on the internet.
import type { SimConfig } from './config.ts';
import { intToIp, ipToInt, PodIpam } from './ip.ts';
import type {
  Client,
  Cluster,
  Controller,
  LoadBalancer,
  Pod,
  Route,
  Service,
  SimNode,
  Workload,
  WorkloadRole,
} from './model.ts';
import type { Rng } from './rng.ts';

const US = 1_000_000;

interface CatalogEntry {
  readonly namespace: string;
  readonly name: string;
  readonly tier: number;
  readonly routes: readonly string[];
}

/** Application workloads, in the order they are taken (the first ones always). */
const CATALOG: readonly CatalogEntry[] = [
  { namespace: 'shop', name: 'frontend', tier: 0, routes: ['/', '/products/{id}', '/cart', '/checkout'] },
  { namespace: 'catalog', name: 'products', tier: 1, routes: ['/api/v1/products', '/api/v1/products/{id}'] },
  { namespace: 'shop', name: 'cart', tier: 1, routes: ['/api/v1/cart/{id}', '/api/v1/cart/{id}/items'] },
  { namespace: 'identity', name: 'auth', tier: 0, routes: ['/oauth/token', '/oauth/authorize', '/userinfo'] },
  { namespace: 'payments', name: 'payments', tier: 2, routes: ['/v1/charges', '/v1/charges/{id}'] },
  { namespace: 'catalog', name: 'inventory', tier: 3, routes: ['/stock/{sku}', '/reservations'] },
  { namespace: 'shop', name: 'checkout', tier: 1, routes: ['/api/v1/checkout', '/api/v1/checkout/{id}'] },
  { namespace: 'identity', name: 'users', tier: 2, routes: ['/users/{id}', '/users/{id}/profile'] },
  { namespace: 'catalog', name: 'search', tier: 0, routes: ['/search', '/suggest'] },
  { namespace: 'catalog', name: 'reviews', tier: 2, routes: ['/reviews/{id}', '/reviews'] },
  { namespace: 'shipping', name: 'shipping', tier: 2, routes: ['/quotes', '/shipments/{id}'] },
  { namespace: 'payments', name: 'fraud', tier: 3, routes: ['/score'] },
  { namespace: 'shop', name: 'recommendations', tier: 2, routes: ['/recs/{id}'] },
  { namespace: 'identity', name: 'sessions', tier: 3, routes: ['/sessions/{id}'] },
  { namespace: 'payments', name: 'ledger', tier: 3, routes: ['/entries', '/entries/{id}'] },
  { namespace: 'shipping', name: 'tracking', tier: 0, routes: ['/track/{id}'] },
  { namespace: 'catalog', name: 'pricing', tier: 3, routes: ['/prices/{sku}'] },
  { namespace: 'shop', name: 'wishlist', tier: 1, routes: ['/api/v1/wishlist/{id}'] },
  { namespace: 'identity', name: 'mfa', tier: 3, routes: ['/challenge'] },
  { namespace: 'shipping', name: 'carriers', tier: 3, routes: ['/carriers', '/carriers/{id}/rates'] },
];

const USER_AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'okhttp/4.12.0',
  'ShopApp/7.3.1 (Android 15; Pixel 8)',
  'curl/8.11.0',
  'python-requests/2.32.3',
];

export const NGINX_NAMESPACE = 'ingress-nginx';
export const GATEWAY_NAMESPACE = 'envoy-gateway-system';
export const GATEWAY_NAME = 'envoy-default-eg-e41e7b31';

function uidOf(rng: Rng): string {
  return rng.uuid();
}

export interface TopologyBuild {
  readonly cluster: Cluster;
  readonly ipams: ReadonlyMap<SimNode, PodIpam>;
}

export function buildTopology(cfg: SimConfig, root: Rng): TopologyBuild {
  const rng = root.fork('topology');
  const startUs = cfg.startUs;
  const endUs = cfg.startUs + Math.round(cfg.durationS * US);
  const bootUs = startUs - 3 * 3600 * US;

  const zones = ['zone-a', 'zone-b', 'zone-c'];
  const nodes: SimNode[] = [];
  for (let i = 0; i < cfg.nodes; i++)
    nodes.push({
      name: `node-${String(i + 1).padStart(2, '0')}`,
      uid: uidOf(rng),
      index: i,
      ip: `10.0.${1 + Math.floor(i / 200)}.${10 + (i % 200)}`,
      podCidr: `10.244.${i}.0/24`,
      zone: zones[i % zones.length]!,
      skewUs: 0,
    });
  const ipams = new Map(nodes.map((n) => [n, new PodIpam(n.podCidr)] as const));

  // --- workloads ---------------------------------------------------------------
  const appCount = Math.min(CATALOG.length, 6 + 2 * cfg.nodes);
  const chosen = CATALOG.slice(0, appCount);
  const shares = rng.fork('shares');
  const workloads: Workload[] = [];
  const mkWorkload = (
    namespace: string,
    name: string,
    role: WorkloadRole,
    o: Partial<Workload> & Pick<Workload, 'container' | 'port' | 'portName' | 'image' | 'replicas'>,
  ): Workload => {
    const templateHash = rng.suffix(10);
    const w: Workload = {
      key: `${namespace}/${name}`,
      namespace,
      name,
      uid: uidOf(rng),
      role,
      templateHash,
      replicaSetUid: uidOf(rng),
      sidecar: false,
      tracing: false,
      capturesRequestId: false,
      propagatesRequestId: true,
      l7Visible: false,
      calls: [],
      tier: -1,
      routes: [],
      latencyUs: 2000,
      labels: { 'app.kubernetes.io/name': name, app: name, 'pod-template-hash': templateHash },
      ...o,
    };
    workloads.push(w);
    return w;
  };

  const nginxCount = Math.min(2, cfg.nodes);
  const nginx = mkWorkload(NGINX_NAMESPACE, 'ingress-nginx-controller', 'ingress-nginx', {
    container: 'controller',
    port: 80,
    portName: 'http',
    image: 'registry.k8s.io/ingress-nginx/controller:v1.15.1',
    replicas: nginxCount,
    latencyUs: 150,
    labels: {
      'app.kubernetes.io/name': 'ingress-nginx',
      'app.kubernetes.io/instance': 'ingress-nginx',
      'app.kubernetes.io/component': 'controller',
      'pod-template-hash': '',
    },
  });
  const gateway = mkWorkload(GATEWAY_NAMESPACE, GATEWAY_NAME, 'envoy-gateway', {
    container: 'envoy',
    port: 10080,
    portName: 'http-80',
    image: 'docker.io/envoyproxy/envoy:distroless-v1.36.2',
    replicas: Math.min(2, cfg.nodes),
    latencyUs: 200,
    labels: {
      'app.kubernetes.io/name': 'envoy',
      'app.kubernetes.io/component': 'proxy',
      'app.kubernetes.io/managed-by': 'envoy-gateway',
      'gateway.envoyproxy.io/owning-gateway-name': 'eg',
      'gateway.envoyproxy.io/owning-gateway-namespace': 'default',
      'pod-template-hash': '',
    },
  });
  for (const w of [nginx, gateway]) (w.labels as Record<string, string>)['pod-template-hash'] = w.templateHash;

  const ports = [8080, 8080, 8080, 3000, 9080];
  for (const [i, e] of chosen.entries()) {
    const sidecar = i > 0 && shares.chance(cfg.sidecarShare);
    const tracing = shares.chance(cfg.tracingShare);
    const port = ports[i % ports.length]!;
    mkWorkload(e.namespace, e.name, 'app', {
      container: e.name === 'frontend' ? 'web' : 'app',
      port,
      portName: 'http',
      image: `registry.example.com/${e.namespace}/${e.name}:1.${i}.${rng.int(0, 9)}`,
      replicas: rng.int(2, 3),
      sidecar,
      tracing,
      capturesRequestId: tracing && shares.chance(0.6),
      propagatesRequestId: shares.chance(0.85),
      l7Visible: cfg.cni === 'cilium' && shares.chance(cfg.l7Share),
      tier: e.tier,
      routes: e.routes,
      latencyUs: Math.round(rng.lognormal(3000, 0.5)),
      labels: {
        app: e.name,
        'app.kubernetes.io/name': e.name,
        'app.kubernetes.io/part-of': 'webshop',
        version: `v1`,
        ...(sidecar ? { 'security.istio.io/tlsMode': 'istio', 'service.istio.io/canonical-name': e.name } : {}),
      },
    });
  }
  const apps = workloads.filter((w) => w.role === 'app');
  for (const w of apps) (w.labels as Record<string, string>)['pod-template-hash'] = w.templateHash;

  // --- Services ---------------------------------------------------------------
  const usedVips = new Set(['10.96.0.1', '10.96.0.10']);
  const vip = () => {
    for (;;) {
      const ip = intToIp(ipToInt('10.96.0.0') + rng.int(256, 65_000));
      if (!usedVips.has(ip) && !ip.endsWith('.0') && !ip.endsWith('.255')) {
        usedVips.add(ip);
        return ip;
      }
    }
  };
  const services: Service[] = [];
  const mkService = (w: Workload, o: Partial<Service> = {}): Service => {
    const name = o.name ?? w.name;
    const s: Service = {
      key: `${w.namespace}/${name}`,
      namespace: w.namespace,
      name,
      uid: uidOf(rng),
      workload: w,
      type: 'ClusterIP',
      clusterIp: vip(),
      port: 80,
      portName: 'http',
      targetPort: w.port,
      lbIp: undefined,
      nodePort: undefined,
      sliceName: `${name}-${rng.suffix(5)}`,
      sliceUid: uidOf(rng),
      createdUs: bootUs + rng.int(60, 600) * US,
      ...o,
    };
    services.push(s);
    return s;
  };
  const nginxSvc = mkService(nginx, {
    type: 'LoadBalancer',
    lbIp: '203.0.113.10',
    nodePort: rng.int(30000, 32767),
    portName: 'http',
  });
  const gatewaySvc = mkService(gateway, {
    type: 'LoadBalancer',
    lbIp: '203.0.113.20',
    nodePort: rng.int(30000, 32767),
    portName: 'http-80',
  });
  for (const w of apps) mkService(w);
  const serviceByKey = new Map(services.map((s) => [s.key, s] as const));

  // --- call graph (acyclic: calls go to higher tiers) ------------------------------
  const graph = rng.fork('calls');
  for (const w of apps) {
    const deeper = apps.filter((o) => o.tier > w.tier);
    if (!deeper.length) continue;
    const n = Math.min(deeper.length, w.tier === 0 ? graph.int(1, 3) : graph.int(0, 2));
    const pool = [...deeper];
    for (let k = 0; k < n; k++) {
      const [target] = pool.splice(graph.int(0, pool.length - 1), 1);
      w.calls.push(`${target!.namespace}/${target!.name}`);
    }
  }
  const denied = new Set<string>();
  const policy = rng.fork('policy');
  for (const w of apps)
    for (const callee of w.calls) if (policy.chance(cfg.policyDenyShare)) denied.add(`${w.key}→${callee}`);

  // --- routes -------------------------------------------------------------------
  const routes: Route[] = [];
  const exposed = apps.filter((w) => w.tier === 0 || (w.tier === 1 && graph.chance(0.4)));
  exposed.forEach((w, i) => {
    const controller: Controller = i % 2 === 0 ? 'ingress-nginx' : 'envoy-gateway';
    const svc = serviceByKey.get(w.key)!;
    routes.push({
      controller,
      name: controller === 'ingress-nginx' ? w.name : `${w.name}-route`,
      host: `${w.name}.example.com`,
      service: svc,
      // Every other ingress-nginx route proxies to the ClusterIP (`service-upstream: "true"`).
      serviceUpstream: controller === 'ingress-nginx' && i % 4 === 2,
      timeoutUs: (controller === 'ingress-nginx' ? 5 : 4) * US,
    });
  });
  if (!routes.some((r) => r.controller === 'envoy-gateway')) {
    const w = apps.find((a) => a.tier === 1) ?? apps[1]!;
    routes.push({
      controller: 'envoy-gateway',
      name: `${w.name}-route`,
      host: `${w.name}.example.com`,
      service: serviceByKey.get(w.key)!,
      serviceUpstream: false,
      timeoutUs: 4 * US,
    });
  }

  const lbs: LoadBalancer[] = [
    {
      controller: 'ingress-nginx',
      vip: nginxSvc.lbIp!,
      snatIps: ['10.0.200.11', '10.0.200.12', '10.0.200.13'],
      service: nginxSvc,
    },
    {
      controller: 'envoy-gateway',
      vip: gatewaySvc.lbIp!,
      snatIps: ['10.0.201.11', '10.0.201.12'],
      service: gatewaySvc,
    },
  ];

  const people = rng.fork('clients');
  const clients: Client[] = [];
  const seenClientIps = new Set<string>();
  while (clients.length < 120) {
    const ip = people.chance(0.5) ? `198.51.100.${people.int(1, 254)}` : `192.0.2.${people.int(1, 254)}`;
    if (seenClientIps.has(ip)) continue;
    seenClientIps.add(ip);
    clients.push({
      ip,
      userAgent: people.pick(USER_AGENTS),
      sendsRequestId: people.chance(0.1),
      sendsTraceparent: people.chance(cfg.clientTraceShare),
    });
  }

  // --- initial pods ----------------------------------------------------------------
  const pods: Pod[] = [];
  const podsByWorkload = new Map<Workload, Pod[]>();
  const cluster: Cluster = {
    name: 'sim',
    nodes,
    namespaces: [...new Set(workloads.map((w) => w.namespace))].sort(),
    workloads,
    services,
    serviceByKey,
    pods,
    podsByWorkload,
    routes,
    lbs,
    clients,
    deniedEdges: denied,
    startUs,
    endUs,
  };
  const place = rng.fork('placement');
  for (const w of workloads) {
    const used = new Set<number>();
    for (let r = 0; r < w.replicas; r++) {
      // Spread replicas over nodes (no two on one node while nodes remain), least loaded first.
      const load = (n: SimNode) => pods.filter((p) => p.node === n).length;
      const candidates = nodes.filter((n) => !used.has(n.index));
      const pool = candidates.length ? candidates : nodes;
      const min = Math.min(...pool.map(load));
      const node = place.pick(pool.filter((n) => load(n) === min));
      used.add(node.index);
      const created = bootUs + rng.int(700, 3000) * US;
      addPod(cluster, rng, ipams.get(node)!, w, node, created, undefined);
    }
  }
  return { cluster, ipams };
}

/** Creates a pod of `w` on `node` at `createdUs`, with the lowest free IP of the node. */
export function addPod(
  cluster: Cluster,
  rng: Rng,
  ipam: PodIpam,
  w: Workload,
  node: SimNode,
  createdUs: number,
  replaces: string | undefined,
): Pod {
  const containers = [
    w.container,
    ...(w.role === 'envoy-gateway' ? ['shutdown-manager'] : []),
    ...(w.sidecar ? ['istio-proxy'] : []),
  ];
  const runningUs = createdUs + rng.int(200, 900) * 1000;
  const pod: Pod = {
    uid: rng.uuid(),
    name: `${w.name}-${w.templateHash}-${rng.suffix(5)}`,
    namespace: w.namespace,
    workload: w,
    node,
    ip: ipam.allocate(),
    containerIds: Object.fromEntries(containers.map((c) => [c, rng.hex(64)])),
    createdUs,
    runningUs,
    readyUs: runningUs + rng.int(1500, 4000) * 1000,
    terminatingUs: undefined,
    deletedUs: undefined,
    replaces,
  };
  cluster.pods.push(pod);
  let list = cluster.podsByWorkload.get(w);
  if (!list) {
    list = [];
    cluster.podsByWorkload.set(w, list);
  }
  list.push(pod);
  return pod;
}

// Kubernetes objects as the API server serves them (Pod, Service,
// EndpointSlice, Node, Event), and the changes the cluster went through:
// the initial objects, then every pod start, readiness change, termination
// and deletion, with the EndpointSlice updates they cause.
import type { Cluster, Pod, Service, SimNode } from '../model.ts';
import { isoS, isoUs } from '../time.ts';

export type Collection = 'pods' | 'services' | 'endpointslices' | 'nodes' | 'events.k8s.io';
export type Obj = Record<string, unknown>;

export interface ObjectChange {
  /** When the change happened (API server time), epoch µs. */
  readonly atUs: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly collection: Collection;
  readonly object: Obj;
}

const US = 1_000_000;

export function nodeObject(n: SimNode, createdUs: number): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: n.name,
      uid: n.uid,
      creationTimestamp: isoS(createdUs),
      labels: {
        'kubernetes.io/hostname': n.name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'node.kubernetes.io/instance-type': 'm6i.xlarge',
        'topology.kubernetes.io/zone': n.zone,
      },
    },
    spec: { podCIDR: n.podCidr, podCIDRs: [n.podCidr], providerID: `sim:///${n.zone}/${n.name}` },
    status: {
      addresses: [
        { type: 'InternalIP', address: n.ip },
        { type: 'Hostname', address: n.name },
      ],
      conditions: [
        { type: 'Ready', status: 'True', reason: 'KubeletReady', lastTransitionTime: isoS(createdUs + 40 * US) },
      ],
      nodeInfo: {
        kubeletVersion: 'v1.34.2',
        containerRuntimeVersion: 'containerd://2.1.4',
        kernelVersion: '6.12.8',
        osImage: 'Ubuntu 24.04.3 LTS',
        architecture: 'amd64',
        operatingSystem: 'linux',
      },
    },
  };
}

export function serviceObject(s: Service): Obj {
  const port: Obj = { name: s.portName, protocol: 'TCP', port: s.port, targetPort: s.targetPort };
  if (s.nodePort !== undefined) port.nodePort = s.nodePort;
  const spec: Obj = {
    type: s.type,
    clusterIP: s.clusterIp,
    clusterIPs: [s.clusterIp],
    ipFamilies: ['IPv4'],
    ipFamilyPolicy: 'SingleStack',
    ports: [port],
    selector: selectorOf(s),
    sessionAffinity: 'None',
    internalTrafficPolicy: 'Cluster',
  };
  if (s.type === 'LoadBalancer') {
    spec.externalTrafficPolicy = 'Cluster';
    spec.allocateLoadBalancerNodePorts = true;
  }
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: s.name,
      namespace: s.namespace,
      uid: s.uid,
      creationTimestamp: isoS(s.createdUs),
      labels: { 'app.kubernetes.io/name': s.workload.labels['app.kubernetes.io/name'] ?? s.name },
    },
    spec,
    status: { loadBalancer: s.lbIp ? { ingress: [{ ip: s.lbIp }] } : {} },
  };
}

function selectorOf(s: Service): Record<string, string> {
  const l = s.workload.labels;
  if (s.workload.role === 'app') return { app: l.app! };
  const { 'pod-template-hash': _hash, ...rest } = l;
  return rest;
}

/** The pod as the API server holds it at `t`. */
export function podObject(p: Pod, t: number): Obj {
  const w = p.workload;
  const running = t >= p.runningUs;
  const terminating = p.terminatingUs !== undefined && t >= p.terminatingUs;
  const ready = running && t >= p.readyUs && !terminating;
  const names = Object.keys(p.containerIds);
  const mainPorts = [{ name: w.portName, containerPort: w.port, protocol: 'TCP' }];
  if (w.role === 'ingress-nginx') mainPorts.push({ name: 'https', containerPort: 443, protocol: 'TCP' });
  const containers = names.map((name) => {
    if (name === 'istio-proxy')
      return {
        name,
        image: 'docker.io/istio/proxyv2:1.28.1',
        ports: [{ name: 'http-envoy-prom', containerPort: 15090, protocol: 'TCP' }],
      };
    if (name === 'shutdown-manager') return { name, image: 'docker.io/envoyproxy/gateway:v1.6.0', ports: [] };
    return { name, image: w.image, ports: mainPorts };
  });
  const metadata: Obj = {
    name: p.name,
    namespace: p.namespace,
    uid: p.uid,
    creationTimestamp: isoS(p.createdUs),
    generateName: `${w.name}-${w.templateHash}-`,
    labels: { ...w.labels },
    ownerReferences: [
      {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        name: `${w.name}-${w.templateHash}`,
        uid: w.replicaSetUid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
  };
  if (w.sidecar)
    metadata.annotations = {
      'sidecar.istio.io/status': '{"initContainers":["istio-init"],"containers":["istio-proxy"]}',
      'kubectl.kubernetes.io/default-container': w.container,
    };
  if (terminating) {
    metadata.deletionTimestamp = isoS(p.terminatingUs! + 30 * US);
    metadata.deletionGracePeriodSeconds = 30;
  }
  const status: Obj = {
    phase: running ? 'Running' : 'Pending',
    hostIP: p.node.ip,
    hostIPs: [{ ip: p.node.ip }],
    qosClass: 'Burstable',
    conditions: [
      { type: 'PodScheduled', status: 'True', lastTransitionTime: isoS(p.createdUs) },
      {
        type: 'Initialized',
        status: running ? 'True' : 'False',
        lastTransitionTime: isoS(running ? p.runningUs : p.createdUs),
      },
      {
        type: 'ContainersReady',
        status: ready ? 'True' : 'False',
        lastTransitionTime: isoS(ready ? p.readyUs : p.createdUs),
      },
      {
        type: 'Ready',
        status: ready ? 'True' : 'False',
        lastTransitionTime: isoS(ready ? p.readyUs : terminating ? p.terminatingUs! : p.createdUs),
      },
    ],
  };
  if (running) {
    status.podIP = p.ip;
    status.podIPs = [{ ip: p.ip }];
    status.startTime = isoS(p.runningUs);
    status.containerStatuses = names.map((name) => ({
      name,
      containerID: `containerd://${p.containerIds[name]}`,
      image: (containers.find((c) => c.name === name) as { image: string }).image,
      imageID: `sha256:${p.containerIds[name]!.slice(0, 64)}`,
      ready: ready,
      started: true,
      restartCount: 0,
      state: { running: { startedAt: isoS(p.runningUs) } },
    }));
  } else {
    status.containerStatuses = names.map((name) => ({
      name,
      image: (containers.find((c) => c.name === name) as { image: string }).image,
      imageID: '',
      ready: false,
      started: false,
      restartCount: 0,
      state: { waiting: { reason: 'ContainerCreating' } },
    }));
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata,
    spec: {
      nodeName: p.node.name,
      serviceAccountName: w.name,
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      hostNetwork: false,
      containers,
      ...(w.sidecar ? { initContainers: [{ name: 'istio-init', image: 'docker.io/istio/proxyv2:1.28.1' }] } : {}),
    },
    status,
  };
}

/** The Service's EndpointSlice as of `t`: pods that are running and not yet deleted. */
export function sliceObject(cluster: Cluster, s: Service, t: number): Obj {
  const pods = (cluster.podsByWorkload.get(s.workload) ?? []).filter(
    (p) => p.runningUs <= t && (p.deletedUs === undefined || t < p.deletedUs),
  );
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: s.sliceName,
      namespace: s.namespace,
      uid: s.sliceUid,
      generateName: `${s.name}-`,
      creationTimestamp: isoS(s.createdUs),
      labels: {
        'kubernetes.io/service-name': s.name,
        'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
      },
      ownerReferences: [
        { apiVersion: 'v1', kind: 'Service', name: s.name, uid: s.uid, controller: true, blockOwnerDeletion: true },
      ],
    },
    addressType: 'IPv4',
    endpoints: pods.map((p) => {
      const terminating = p.terminatingUs !== undefined && t >= p.terminatingUs;
      const ready = t >= p.readyUs && !terminating;
      return {
        addresses: [p.ip],
        conditions: { ready, serving: t >= p.readyUs, terminating },
        nodeName: p.node.name,
        zone: p.node.zone,
        targetRef: { kind: 'Pod', namespace: p.namespace, name: p.name, uid: p.uid },
      };
    }),
    ports: [{ name: s.portName, protocol: 'TCP', port: s.targetPort }],
  };
}

function eventObject(p: Pod, reason: string, type: string, note: string, atUs: number, idx: number): Obj {
  const component = reason === 'Scheduled' ? 'default-scheduler' : 'kubelet';
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: {
      name: `${p.name}.${(BigInt(atUs) * 1000n + BigInt(idx)).toString(16)}`,
      namespace: p.namespace,
      uid: `${p.uid.slice(0, 24)}${(atUs % 1e12).toString(16).padStart(12, '0').slice(-12)}`,
      creationTimestamp: isoS(atUs),
    },
    eventTime: isoUs(atUs),
    reportingController: component === 'kubelet' ? 'kubelet' : 'default-scheduler',
    reportingInstance: component === 'kubelet' ? p.node.name : 'default-scheduler-control-plane',
    action: reason === 'Scheduled' ? 'Binding' : reason === 'Killing' ? 'Killing' : 'Started',
    reason,
    regarding: {
      kind: 'Pod',
      namespace: p.namespace,
      name: p.name,
      uid: p.uid,
      apiVersion: 'v1',
      ...(reason === 'Scheduled' ? {} : { fieldPath: `spec.containers{${p.workload.container}}` }),
    },
    note,
    type,
  };
}

/** Every change, in time order; objects that exist before the run are ADDED at their creation. */
export function clusterChanges(cluster: Cluster, bootUs: number): ObjectChange[] {
  const out: ObjectChange[] = [];
  for (const n of cluster.nodes)
    out.push({ atUs: bootUs, type: 'ADDED', collection: 'nodes', object: nodeObject(n, bootUs) });
  for (const s of cluster.services) {
    out.push({ atUs: s.createdUs, type: 'ADDED', collection: 'services', object: serviceObject(s) });
    out.push({
      atUs: s.createdUs + 1000,
      type: 'ADDED',
      collection: 'endpointslices',
      object: sliceObject(cluster, s, s.createdUs),
    });
  }
  const sliceTimes = new Map<Service, number[]>();
  const svcOf = new Map(cluster.services.filter((s) => s.workload).map((s) => [s.workload, s] as const));
  for (const p of cluster.pods) {
    const svc = svcOf.get(p.workload)!;
    const times = sliceTimes.get(svc) ?? [];
    sliceTimes.set(svc, times);
    if (p.createdUs < cluster.startUs && p.terminatingUs === undefined) {
      out.push({
        atUs: p.createdUs,
        type: 'ADDED',
        collection: 'pods',
        object: podObject(p, Math.max(p.readyUs, p.createdUs)),
      });
    } else {
      out.push({ atUs: p.createdUs, type: 'ADDED', collection: 'pods', object: podObject(p, p.createdUs) });
      out.push({ atUs: p.runningUs, type: 'MODIFIED', collection: 'pods', object: podObject(p, p.runningUs) });
      out.push({ atUs: p.readyUs, type: 'MODIFIED', collection: 'pods', object: podObject(p, p.readyUs) });
    }
    times.push(p.runningUs, p.readyUs);
    if (p.createdUs >= cluster.startUs) {
      out.push({
        atUs: p.createdUs + 1000,
        type: 'ADDED',
        collection: 'events.k8s.io',
        object: eventObject(
          p,
          'Scheduled',
          'Normal',
          `Successfully assigned ${p.namespace}/${p.name} to ${p.node.name}`,
          p.createdUs + 1000,
          0,
        ),
      });
      out.push({
        atUs: p.runningUs + 500_000,
        type: 'ADDED',
        collection: 'events.k8s.io',
        object: eventObject(
          p,
          'Started',
          'Normal',
          `Started container ${p.workload.container}`,
          p.runningUs + 500_000,
          1,
        ),
      });
    }
    if (p.terminatingUs !== undefined) {
      out.push({ atUs: p.terminatingUs, type: 'MODIFIED', collection: 'pods', object: podObject(p, p.terminatingUs) });
      out.push({
        atUs: p.terminatingUs + 2000,
        type: 'ADDED',
        collection: 'events.k8s.io',
        object: eventObject(
          p,
          'Killing',
          'Normal',
          `Stopping container ${p.workload.container}`,
          p.terminatingUs + 2000,
          2,
        ),
      });
      times.push(p.terminatingUs);
    }
    if (p.deletedUs !== undefined) {
      out.push({ atUs: p.deletedUs, type: 'DELETED', collection: 'pods', object: podObject(p, p.deletedUs) });
      times.push(p.deletedUs);
    }
  }
  for (const [svc, times] of sliceTimes)
    for (const t of [...new Set(times)].sort((a, b) => a - b)) {
      // The EndpointSlice controller follows pod changes a few milliseconds later.
      const at = t + 5000;
      if (t < svc.createdUs) continue;
      out.push({ atUs: at, type: 'MODIFIED', collection: 'endpointslices', object: sliceObject(cluster, svc, at) });
    }
  return out
    .map((c, i) => ({ c, i }))
    .sort((a, b) => a.c.atUs - b.c.atUs || a.i - b.i)
    .map(({ c }) => c);
}

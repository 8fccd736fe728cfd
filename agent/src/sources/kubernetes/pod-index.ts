// The node's pods, indexed for enrichment: other sources on this node ask
// "which pod is uid U / container C / IP A?" about their own records. It
// holds the same mapped state that goes into k8s_objects (no env, no
// annotations off the allow-list), so enrichment cannot leak more than the
// table already does.
import type { ObjectState } from './map.ts';

/** A pod on this node as the enrichment sees it (the mapped k8s_objects state). */
export type LocalPod = Readonly<ObjectState>;

/** Read-only lookups for other sources. All return the pod's latest state. */
export interface PodLookup {
  byUid(uid: string): LocalPod | undefined;
  /** Runtime container id, with or without the `containerd://` style prefix. */
  byContainerId(containerId: string): LocalPod | undefined;
  /**
   * Pod IP → pod. Host-network pods are not indexed by IP (they share the
   * node's); when an IP was reused, the pod that most recently claimed it
   * while not finished wins.
   */
  byIp(ip: string): LocalPod | undefined;
  /** Namespace + name → pod (the name in a CRI log path). */
  byName(namespace: string, name: string): LocalPod | undefined;
  readonly size: number;
}

const FINISHED = new Set(['Succeeded', 'Failed']);

export class PodIndex implements PodLookup {
  private readonly pods = new Map<string, LocalPod>();
  private readonly containers = new Map<string, string>();
  private readonly ips = new Map<string, string>();
  private readonly names = new Map<string, string>();

  get size(): number {
    return this.pods.size;
  }

  byUid(uid: string): LocalPod | undefined {
    return this.pods.get(uid);
  }

  byContainerId(containerId: string): LocalPod | undefined {
    const i = containerId.indexOf('://');
    const uid = this.containers.get(i >= 0 ? containerId.slice(i + 3) : containerId);
    return uid === undefined ? undefined : this.pods.get(uid);
  }

  byIp(ip: string): LocalPod | undefined {
    const uid = this.ips.get(ip);
    return uid === undefined ? undefined : this.pods.get(uid);
  }

  byName(namespace: string, name: string): LocalPod | undefined {
    const uid = this.names.get(`${namespace}/${name}`);
    return uid === undefined ? undefined : this.pods.get(uid);
  }

  /** Every pod, for snapshots. */
  values(): IterableIterator<LocalPod> {
    return this.pods.values();
  }

  upsert(pod: LocalPod): void {
    const previous = this.pods.get(pod.uid);
    if (previous) this.unlink(previous);
    this.pods.set(pod.uid, pod);
    for (const c of pod.containers ?? []) if (c.container_id) this.containers.set(c.container_id, pod.uid);
    this.names.set(`${pod.namespace ?? ''}/${pod.name}`, pod.uid);
    if (!pod.host_network && !FINISHED.has(pod.phase ?? ''))
      for (const ip of pod.pod_ips ?? []) this.ips.set(ip, pod.uid);
  }

  remove(uid: string): LocalPod | undefined {
    const pod = this.pods.get(uid);
    if (!pod) return undefined;
    this.unlink(pod);
    this.pods.delete(uid);
    return pod;
  }

  clear(): void {
    this.pods.clear();
    this.containers.clear();
    this.ips.clear();
    this.names.clear();
  }

  /** Drops the secondary keys that still point at this pod (a newer pod may own them now). */
  private unlink(pod: LocalPod): void {
    for (const c of pod.containers ?? [])
      if (c.container_id && this.containers.get(c.container_id) === pod.uid) this.containers.delete(c.container_id);
    for (const ip of pod.pod_ips ?? []) if (this.ips.get(ip) === pod.uid) this.ips.delete(ip);
    const key = `${pod.namespace ?? ''}/${pod.name}`;
    if (this.names.get(key) === pod.uid) this.names.delete(key);
  }
}

// The registry builds sources independently, so the index is published per
// node name for whichever source on that node wants it.
const published = new Map<string, PodLookup>();

/** The pod index of the Kubernetes source running for `node` in this process, if any. */
export function localPodIndex(node: string): PodLookup | undefined {
  return published.get(node);
}

export function publishPodIndex(node: string, index: PodLookup | undefined): void {
  if (index) published.set(node, index);
  else published.delete(node);
}

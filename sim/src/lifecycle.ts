// Pod churn over the run: a pod is deleted (terminating: out of the
// endpoints, its connections closed; gone after its grace period) and the
// ReplicaSet's replacement is scheduled on the same node once the old sandbox
// is torn down — so, with the lowest-free IPAM, it gets the same IP. Actions
// run in time order so every allocation sees exactly the addresses in use then.
import type { SimConfig } from './config.ts';
import type { PodIpam } from './ip.ts';
import { type Cluster, type Pod, readyPods, type SimNode } from './model.ts';
import type { Rng } from './rng.ts';
import { addPod } from './topology.ts';

const US = 1_000_000;

type Action =
  | { readonly at: number; readonly seq: number; readonly kind: 'terminate'; readonly slot: Slot }
  | { readonly at: number; readonly seq: number; readonly kind: 'release'; readonly pod: Pod }
  | { readonly at: number; readonly seq: number; readonly kind: 'create'; readonly slot: Slot; readonly replaces: Pod };

interface Slot {
  current: Pod;
}

export interface ChurnRecord {
  readonly oldPod: Pod;
  readonly newPod: Pod;
  readonly ipReused: boolean;
}

export function applyChurn(
  cluster: Cluster,
  ipams: ReadonlyMap<SimNode, PodIpam>,
  cfg: SimConfig,
  root: Rng,
): ChurnRecord[] {
  const rate = cfg.faults.churn ?? 0;
  if (rate <= 0) return [];
  const rng = root.fork('churn');
  const meanGapUs = (60 / rate) * US;
  const first = cluster.startUs + 5 * US;
  const last = cluster.endUs - 25 * US;
  const actions: Action[] = [];
  let seq = 0;
  const push = (a: Action) => {
    // Sorted insert (by time, then creation order).
    let i = actions.length;
    while (i > 0 && (actions[i - 1]!.at > a.at || (actions[i - 1]!.at === a.at && actions[i - 1]!.seq > a.seq))) i--;
    actions.splice(i, 0, a);
  };
  for (const pod of cluster.pods.filter((p) => p.workload.role === 'app')) {
    const slot: Slot = { current: pod };
    for (let t = first + Math.round(rng.exp(meanGapUs)); t < last; t += Math.round(rng.exp(meanGapUs)))
      push({ at: t, seq: seq++, kind: 'terminate', slot });
  }
  const records: ChurnRecord[] = [];
  while (actions.length) {
    const a = actions.shift()!;
    if (a.kind === 'terminate') {
      const p = a.slot.current;
      // The replacement of an earlier churn must be up, and another replica must keep serving.
      if (p.readyUs > a.at || p.terminatingUs !== undefined) continue;
      if (readyPods(cluster, p.workload, a.at).filter((o) => o !== p).length === 0) continue;
      p.terminatingUs = a.at;
      p.deletedUs = a.at + rng.int(8, 12) * US;
      push({ at: p.deletedUs, seq: seq++, kind: 'release', pod: p });
      push({ at: p.deletedUs + rng.int(200, 1000) * 1000, seq: seq++, kind: 'create', slot: a.slot, replaces: p });
    } else if (a.kind === 'release') {
      ipams.get(a.pod.node)!.release(a.pod.ip);
    } else {
      const old = a.replaces;
      const pod = addPod(cluster, rng, ipams.get(old.node)!, old.workload, old.node, a.at, old.uid);
      a.slot.current = pod;
      records.push({ oldPod: old, newPod: pod, ipReused: pod.ip === old.ip });
    }
  }
  return records;
}

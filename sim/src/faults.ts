// Fault plans, drawn once per run from the seed: which nodes' clocks are
// off, which stretches of which streams are lost or arrive late, where
// Hubble's ring buffer overflows, and which agents restart. Share-based
// faults always hit at least one node or stream when their rate is above 0,
// so a small run still exercises them.
import type { FaultName, SimConfig } from './config.ts';
import type { SimNode } from './model.ts';
import type { Rng } from './rng.ts';

const S = 1_000_000;

export interface Window {
  readonly fromUs: number;
  readonly toUs: number;
}

export interface LatePlan {
  /** Records at or after this true time arrive late. */
  readonly cutUs: number;
  readonly delayUs: number;
}

export interface FaultPlan {
  readonly skewed: { readonly node: string; readonly skewUs: number }[];
  /** Stream key → lost stretch. */
  readonly lost: Map<string, Window>;
  /** Node → ring-buffer overflow stretch. */
  readonly hubbleLost: Map<string, Window>;
  /** Stream key → late part. */
  readonly late: Map<string, LatePlan>;
  readonly restarts: { readonly node: string; readonly atUs: number }[];
  readonly drift: string[];
}

/** Picks `max(1, round(rate × n))` items (none when the rate is 0), in a seed-determined order. */
export function pickShare<T>(rng: Rng, items: readonly T[], rate: number | undefined): T[] {
  if (!rate || rate <= 0 || items.length === 0) return [];
  const k = Math.min(items.length, Math.max(1, Math.round(rate * items.length)));
  const pool = [...items];
  const out: T[] = [];
  while (out.length < k) out.push(pool.splice(rng.int(0, pool.length - 1), 1)[0]!);
  return out;
}

export function rate(cfg: SimConfig, f: FaultName): number {
  return cfg.faults[f] ?? 0;
}

export function planFaults(
  cfg: SimConfig,
  root: Rng,
  nodes: readonly SimNode[],
  streams: readonly string[],
  startUs: number,
  endUs: number,
): FaultPlan {
  const span = endUs - startUs;
  const skewRng = root.fork('fault/skew');
  const skewed = pickShare(skewRng, nodes, rate(cfg, 'skew')).map((n) => {
    const mag = skewRng.int(200, 3000) * 1000;
    return { node: n.name, skewUs: skewRng.chance(0.5) ? mag : -mag };
  });

  const window = (rng: Rng, share: number): Window => {
    const len = Math.max(50_000, Math.round(share * span));
    const from = startUs + rng.int(0, Math.max(0, span - len));
    return { fromUs: from, toUs: from + len };
  };
  const lost = new Map<string, Window>();
  const lostRate = rate(cfg, 'lost');
  if (lostRate > 0) {
    const rng = root.fork('fault/lost');
    for (const s of streams) lost.set(s, window(rng, lostRate));
  }
  const hubbleLost = new Map<string, Window>();
  const hl = rate(cfg, 'hubble-lost');
  if (hl > 0 && cfg.cni === 'cilium') {
    const rng = root.fork('fault/hubble-lost');
    for (const n of nodes) hubbleLost.set(n.name, window(rng, hl));
  }
  const late = new Map<string, LatePlan>();
  const lateRng = root.fork('fault/late');
  for (const s of pickShare(lateRng, streams, rate(cfg, 'late')))
    late.set(s, {
      cutUs: startUs + Math.round(span * lateRng.real(0.2, 0.8)),
      delayUs: lateRng.int(60, 900) * S,
    });
  const restartRng = root.fork('fault/restart');
  const restarts = pickShare(restartRng, nodes, rate(cfg, 'restart')).map((n) => ({
    node: n.name,
    atUs: startUs + Math.round(span * restartRng.real(0.3, 0.7)),
  }));
  const drift = pickShare(root.fork('fault/drift'), nodes, rate(cfg, 'drift')).map((n) => n.name);
  return { skewed, lost, hubbleLost, late, restarts, drift };
}

export function inWindow(w: Window | undefined, t: number): boolean {
  return w !== undefined && t >= w.fromUs && t < w.toUs;
}

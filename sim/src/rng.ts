// Deterministic randomness. Every subsystem draws from its own stream, forked
// from the seed by a label, so switching one feature (a fault, a share) does
// not shift the draws of the others: the same seed gives the same cluster and
// the same requests whether or not, say, lost records are injected.
import { hash } from 'node:crypto';
import { prng } from '../../bench/rows.ts';

export class Rng {
  readonly seed: number;
  private readonly draw: () => number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.draw = prng(this.seed);
  }

  /** An independent stream for `label`, a function of this stream's seed only. */
  fork(label: string): Rng {
    return new Rng(Number.parseInt(hash('sha256', `${this.seed}/${label}`, 'hex').slice(0, 8), 16));
  }

  /** [0, 1). */
  next(): number {
    return this.draw();
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.draw() * (hi - lo + 1));
  }

  /** Real in [lo, hi). */
  real(lo: number, hi: number): number {
    return lo + this.draw() * (hi - lo);
  }

  chance(p: number): boolean {
    return p > 0 && this.draw() < p;
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick from an empty list');
    return xs[Math.floor(this.draw() * xs.length)]!;
  }

  /** Index by weight. */
  weighted(weights: readonly number[]): number {
    const total = weights.reduce((a, b) => a + b, 0);
    let x = this.draw() * total;
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i]!;
      if (x < 0) return i;
    }
    return weights.length - 1;
  }

  /** Exponentially distributed with the given mean. */
  exp(mean: number): number {
    return -mean * Math.log(1 - this.draw());
  }

  /** Log-normal around `median` with spread `sigma` (in log space). */
  lognormal(median: number, sigma: number): number {
    const u1 = 1 - this.draw();
    const u2 = this.draw();
    const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    return median * Math.exp(sigma * z);
  }

  hex(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += Math.floor(this.draw() * 16).toString(16);
    return s;
  }

  /** Lowercase alphanumerics without vowels, like the suffixes Kubernetes generates. */
  suffix(n: number): string {
    const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(this.draw() * alphabet.length)];
    return s;
  }

  /** RFC 4122 version 4 UUID. */
  uuid(): string {
    const h = this.hex(32).split('');
    h[12] = '4';
    h[16] = '89ab'[Math.floor(this.draw() * 4)]!;
    const s = h.join('');
    return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
  }

  /** Non-zero hex id (trace ids, span ids). */
  id(n: number): string {
    for (;;) {
      const v = this.hex(n);
      if (!/^0+$/.test(v)) return v;
    }
  }
}

// Leader election on a coordination.k8s.io/v1 Lease, with client-go's rules:
// a candidate takes the Lease only when it is free or when the holder's
// record has not changed for a whole lease duration *as measured by the
// candidate's own clock* (so clock skew between nodes does not matter);
// every write carries the resourceVersion it read, so two candidates cannot
// both win (the loser gets 409 Conflict). The leader stops its leader-only
// work when it has not renewed for `renewDeadline` — measured from when the
// last successful renewal was *sent* — which is earlier than anyone else may
// take over, so two agents never export at the same time.
import { type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import type { Logger } from '../../ops/logger.ts';
import { RateLimitedLog } from '../../ops/rate-limited-log.ts';
import { type KubeClient, statusOf } from './client.ts';
import { sleep } from './reflector.ts';

export interface LeaderOptions {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly durationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
}

export interface LeaderCallbacks {
  /** Leader-only work starts; `term` aborts the moment leadership ends. */
  started(term: AbortSignal): void;
  /** Resolves when the leader-only work has stopped (awaited before releasing or re-acquiring). */
  stopped(): Promise<void>;
  /** Transitions for metrics: acquired, lost, released. */
  transition(kind: 'acquired' | 'lost' | 'released'): void;
}

export class LeaderElector {
  private readonly client: KubeClient;
  private readonly options: LeaderOptions;
  private readonly callbacks: LeaderCallbacks;
  private readonly logger: Logger;
  private readonly errors: RateLimitedLog;
  /** resourceVersion of the Lease as last seen, and when (monotonic ms) it was first seen. */
  private observedRv: string | undefined;
  private observedAt = 0;
  private leading = false;

  constructor(client: KubeClient, options: LeaderOptions, callbacks: LeaderCallbacks, logger: Logger) {
    this.client = client;
    this.options = options;
    this.callbacks = callbacks;
    this.logger = logger;
    this.errors = new RateLimitedLog(logger, 30_000);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs } = this.options;
    while (!signal.aborted) {
      // Follower: try to acquire every retry period (jittered so candidates spread out).
      for (;;) {
        if (signal.aborted) return;
        const sent = performance.now();
        // A slow answer is still a valid one here: the write is conditional on what was read.
        if (await this.tryAcquireOrRenew(renewDeadlineMs)) {
          await this.lead(signal, sent);
          break;
        }
        await sleep(retryPeriodMs * (1 + Math.random() * 0.2), signal);
      }
    }
  }

  /** Holds the lease until it cannot be renewed in time or the agent stops. */
  private async lead(signal: AbortSignal, acquiredSent: number): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs } = this.options;
    const term = new AbortController();
    let lastRenewSent = acquiredSent;
    // Fires at the renew deadline whether or not a request is still hanging.
    let deadline: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(deadline);
      const left = lastRenewSent + renewDeadlineMs - performance.now();
      deadline = setTimeout(() => term.abort(), Math.max(0, left));
    };
    arm();
    this.leading = true;
    this.callbacks.transition('acquired');
    this.logger.info({ lease: this.options.name, identity: this.options.identity }, 'became the leader');
    this.callbacks.started(term.signal);
    const stop = AbortSignal.any([signal, term.signal]);
    while (!stop.aborted) {
      await sleep(retryPeriodMs, stop);
      if (stop.aborted) break;
      const sent = performance.now();
      const left = lastRenewSent + renewDeadlineMs - sent;
      if (await this.tryAcquireOrRenew(Math.max(1, left))) {
        if (!term.signal.aborted) {
          lastRenewSent = sent;
          arm();
        }
      }
    }
    clearTimeout(deadline);
    if (signal.aborted && !term.signal.aborted) {
      // Shutting down while still the leader: let the work hand over what it
      // has (the Lease is still ours), then end the term and give the Lease back.
      await this.callbacks.stopped();
      term.abort();
      this.leading = false;
      await this.release();
      this.callbacks.transition('released');
      this.logger.info({ lease: this.options.name }, 'released the lease');
    } else {
      term.abort();
      this.leading = false;
      await this.callbacks.stopped();
      this.callbacks.transition('lost');
      this.logger.warn(
        { lease: this.options.name, renewDeadlineMs },
        'lost the lease (not renewed in time); stopped exporting cluster-scoped kinds',
      );
    }
  }

  /** One GET and, if we may hold the Lease, one create/replace. True when we hold it now. */
  private async tryAcquireOrRenew(timeoutMs: number): Promise<boolean> {
    try {
      return await withTimeout(this.acquireOrRenew(), timeoutMs);
    } catch (err) {
      this.errors.warn(
        'lease',
        { lease: this.options.name, status: statusOf(err), err: (err as Error).message },
        'lease request failed',
      );
      return false;
    }
  }

  private async acquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity, durationMs } = this.options;
    const api = this.client.leases;
    const now = new V1MicroTime();
    const seconds = Math.max(1, Math.round(durationMs / 1000));
    let lease: V1Lease;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      try {
        const created = await api.createNamespacedLease({
          namespace,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds: seconds,
              acquireTime: now,
              renewTime: now,
              leaseTransitions: 0,
            },
          },
        });
        this.observe(created);
        return true;
      } catch (createErr) {
        if (statusOf(createErr) === 409) return false;
        throw createErr;
      }
    }
    this.observe(lease);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const heldFor = (spec.leaseDurationSeconds ?? seconds) * 1000;
    if (holder && holder !== identity && performance.now() < this.observedAt + heldFor) return false;
    const mine = holder === identity;
    try {
      const updated = await api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          ...lease,
          spec: {
            ...spec,
            holderIdentity: identity,
            leaseDurationSeconds: seconds,
            acquireTime: mine && spec.acquireTime ? microTime(spec.acquireTime) : now,
            renewTime: now,
            leaseTransitions: mine ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
          },
        },
      });
      this.observe(updated);
      return true;
    } catch (err) {
      if (statusOf(err) === 409) return false;
      throw err;
    }
  }

  /** Hands the Lease back so a follower can take over without waiting for it to expire. */
  private async release(): Promise<void> {
    const { namespace, name, identity } = this.options;
    try {
      const lease = await withTimeout(this.client.leases.readNamespacedLease({ name, namespace }), 5000);
      if (lease.spec?.holderIdentity !== identity) return;
      const now = new V1MicroTime();
      await withTimeout(
        this.client.leases.replaceNamespacedLease({
          name,
          namespace,
          body: {
            ...lease,
            spec: {
              ...lease.spec,
              holderIdentity: '',
              leaseDurationSeconds: 1,
              acquireTime: now,
              renewTime: now,
            },
          },
        }),
        5000,
      );
    } catch (err) {
      this.logger.warn(
        { lease: name, status: statusOf(err), err: (err as Error).message },
        'could not release the lease; it expires on its own',
      );
    }
  }

  private observe(lease: V1Lease): void {
    const rv = lease.metadata?.resourceVersion;
    if (rv !== this.observedRv) {
      this.observedRv = rv;
      this.observedAt = performance.now();
    }
  }
}

/** Lease times must be written with 6 fractional digits; reads return strings (or Dates from a typed client). */
function microTime(v: unknown): V1MicroTime {
  if (v instanceof V1MicroTime) return v;
  if (v instanceof Date) return new V1MicroTime(v.getTime());
  const d = new V1MicroTime(String(v));
  return Number.isNaN(d.getTime()) ? new V1MicroTime() : d;
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${Math.round(ms)} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

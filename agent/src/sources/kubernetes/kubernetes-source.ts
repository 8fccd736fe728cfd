// The Kubernetes source: this node's pods on every agent (a field-selected
// watch that also feeds the local pod index), and — on the one agent holding
// the Lease — Services, EndpointSlices, Nodes and Events for the whole
// cluster. Changes go to k8s_objects / k8s_events as they are seen; every
// exported object kind is also written in full at `snapshot_interval`.
//
// Delivery policy: a watch cannot replay from a position of ours, so this is
// a push source in checkpoint terms, but it does not drop for backpressure.
// It waits for pipeline capacity before every emission; while it waits,
// events queue up to `watch.max_queued_events`, then the watch is closed and
// resumed later from the last emitted resourceVersion (the API server replays
// the gap, or answers 410 and a re-LIST rebuilds the state as a diff). State
// lost in a crash is rebuilt by the first LIST after start (SNAPSHOT rows).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TableName } from '../../contract/generated.ts';
import { nowUs } from '../../contract/time.ts';
import { RateLimitedLog } from '../../ops/rate-limited-log.ts';
import type { Source, SourceContext, SourceLag, TableRecord } from '../../pipeline/source.ts';
import { KubeClient, loadKubeConfig } from './client.ts';
import type { KubernetesKind, KubernetesSourceConfig } from './config.ts';
import { LeaderElector } from './leader.ts';
import {
  type ChangeType,
  contentKey,
  MAPPERS,
  MetadataFilter,
  mapEvent,
  type ObjectKind,
  type ObjectState,
  objectRow,
  type RowContext,
} from './map.ts';
import { PodIndex, publishPodIndex } from './pod-index.ts';
import { Reflector, type ReflectorObserver, type ReflectorSink, sleep, type WatchEvent } from './reflector.ts';

const OBJECT_KINDS: Record<Exclude<KubernetesKind, 'events'>, { kind: ObjectKind; path: string }> = {
  pods: { kind: 'Pod', path: '/api/v1/pods' },
  services: { kind: 'Service', path: '/api/v1/services' },
  endpointslices: { kind: 'EndpointSlice', path: '/apis/discovery.k8s.io/v1/endpointslices' },
  nodes: { kind: 'Node', path: '/api/v1/nodes' },
};
const EVENT_PATHS = { 'events.k8s.io/v1': '/apis/events.k8s.io/v1/events', v1: '/api/v1/events' } as const;
const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
const SNAPSHOT_CHUNK = 1000;

/** The cache an object sink keeps; the pod index is one. */
interface StateStore {
  byUid(uid: string): ObjectState | undefined;
  upsert(state: ObjectState): void;
  remove(uid: string): ObjectState | undefined;
  values(): IterableIterator<ObjectState>;
  clear(): void;
  readonly size: number;
}

class MapStore implements StateStore {
  private readonly map = new Map<string, ObjectState>();
  get size(): number {
    return this.map.size;
  }
  byUid(uid: string): ObjectState | undefined {
    return this.map.get(uid);
  }
  upsert(state: ObjectState): void {
    this.map.set(state.uid, state);
  }
  remove(uid: string): ObjectState | undefined {
    const s = this.map.get(uid);
    this.map.delete(uid);
    return s;
  }
  values(): IterableIterator<ObjectState> {
    return this.map.values();
  }
  clear(): void {
    this.map.clear();
  }
}

/** Serializes a sink's LIST/watch handling with its snapshots. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

type Emit = (records: TableRecord[]) => Promise<void>;

/** Keeps one object kind's state and turns LISTs, watch events and snapshots into k8s_objects rows. */
class ObjectSink implements ReflectorSink {
  private readonly lock = new Mutex();
  private seen = new Set<string>();
  private readonly kind: ObjectKind;
  private readonly store: StateStore;
  private readonly emit: Emit;
  private readonly filter: MetadataFilter;
  private readonly rc: RowContext;
  private readonly invalid: (problem: string) => void;
  private readonly cached: (size: number) => void;

  constructor(args: {
    kind: ObjectKind;
    store: StateStore;
    emit: Emit;
    filter: MetadataFilter;
    rc: RowContext;
    invalid: (problem: string) => void;
    cached: (size: number) => void;
  }) {
    this.kind = args.kind;
    this.store = args.store;
    this.emit = args.emit;
    this.filter = args.filter;
    this.rc = args.rc;
    this.invalid = args.invalid;
    this.cached = args.cached;
  }

  listStart(): void {
    this.seen = new Set();
  }

  listPage(items: readonly unknown[], initial: boolean): Promise<void> {
    return this.lock.run(async () => {
      const now = nowUs();
      const rows: TableRecord[] = [];
      for (const item of items) {
        const state = this.map(item);
        if (!state) continue;
        this.seen.add(state.uid);
        const previous = this.store.byUid(state.uid);
        this.store.upsert(state);
        // The first LIST is a full listing; later ones (after 410 Gone) are diffed against what we hold.
        const change: ChangeType | undefined = initial
          ? 'SNAPSHOT'
          : !previous
            ? 'ADDED'
            : contentKey(previous) !== contentKey(state)
              ? 'MODIFIED'
              : undefined;
        if (change) rows.push(this.row(state, change, now, now));
      }
      this.cached(this.store.size);
      await this.emit(rows);
    });
  }

  listEnd(): Promise<void> {
    return this.lock.run(async () => {
      const now = nowUs();
      const rows: TableRecord[] = [];
      const gone = [...this.store.values()].filter((s) => !this.seen.has(s.uid));
      for (const state of gone) {
        this.store.remove(state.uid);
        rows.push(this.row(state, 'DELETED', now, now));
      }
      this.seen = new Set();
      this.cached(this.store.size);
      await this.emit(rows);
    });
  }

  events(batch: readonly WatchEvent[]): Promise<void> {
    return this.lock.run(async () => {
      const rows: TableRecord[] = [];
      for (const event of batch) {
        const state = this.map(event.object);
        if (!state) continue;
        const at = event.receivedUs;
        if (event.type === 'DELETED') {
          this.store.remove(state.uid);
          rows.push(this.row(state, 'DELETED', at, at));
          continue;
        }
        const previous = this.store.byUid(state.uid);
        this.store.upsert(state);
        // Most status updates touch nothing we keep (a new resourceVersion only): no row.
        if (previous && contentKey(previous) === contentKey(state)) continue;
        rows.push(this.row(state, previous ? 'MODIFIED' : 'ADDED', at, at));
      }
      this.cached(this.store.size);
      await this.emit(rows);
    });
  }

  /** Every object as it is now, with one shared event time. */
  snapshot(): Promise<number> {
    return this.lock.run(async () => {
      const now = nowUs();
      const states = [...this.store.values()];
      for (let i = 0; i < states.length; i += SNAPSHOT_CHUNK)
        await this.emit(states.slice(i, i + SNAPSHOT_CHUNK).map((s) => this.row(s, 'SNAPSHOT', now, now)));
      return states.length;
    });
  }

  private map(item: unknown): ObjectState | undefined {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      this.invalid(`${this.kind} is not an object`);
      return undefined;
    }
    const mapped = MAPPERS[this.kind](item as Record<string, unknown>, this.filter);
    if (!mapped.ok) {
      this.invalid(mapped.problem);
      return undefined;
    }
    return mapped.value;
  }

  private row(state: ObjectState, change: ChangeType, eventUs: number, observedUs: number): TableRecord {
    return { table: 'k8s_objects', row: objectRow(state, change, eventUs, observedUs, this.rc) };
  }
}

/**
 * Events are a stream, not state: nothing is cached. A (re-)LIST writes the
 * events the server still holds again; their record ids (uid +
 * resourceVersion) are the same, so the lakehouse keeps one of each.
 */
class EventSink implements ReflectorSink {
  private readonly emit: Emit;
  private readonly message: 'redact' | 'keep' | 'drop';
  private readonly rc: RowContext;
  private readonly invalid: (problem: string) => void;

  constructor(emit: Emit, message: 'redact' | 'keep' | 'drop', rc: RowContext, invalid: (problem: string) => void) {
    this.emit = emit;
    this.message = message;
    this.rc = rc;
    this.invalid = invalid;
  }

  listStart(): void {}

  async listPage(items: readonly unknown[]): Promise<void> {
    const now = nowUs();
    await this.emit(items.map((item) => this.map(item, now)).filter((r): r is TableRecord => r !== undefined));
  }

  async listEnd(): Promise<void> {}

  async events(batch: readonly WatchEvent[]): Promise<void> {
    const rows: TableRecord[] = [];
    for (const e of batch) {
      // An Event's deletion is its expiry (TTL), not news.
      if (e.type === 'DELETED') continue;
      const r = this.map(e.object, e.receivedUs);
      if (r) rows.push(r);
    }
    await this.emit(rows);
  }

  private map(item: unknown, observedUs: number): TableRecord | undefined {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      this.invalid('Event is not an object');
      return undefined;
    }
    const mapped = mapEvent(item as Record<string, unknown>, observedUs, { message: this.message }, this.rc);
    if (!mapped.ok) {
      this.invalid(mapped.problem);
      return undefined;
    }
    return { table: 'k8s_events', row: mapped.value };
  }
}

export interface LeadershipTerm {
  /** Wall-clock ms. */
  readonly from: number;
  until?: number;
}

export class KubernetesSource implements Source {
  readonly kind = 'push';
  readonly name: string;
  /** This node's pods; also published through `localPodIndex(node)`. */
  readonly pods = new PodIndex();
  /** Leadership terms of this process, oldest first (for operators' logs and tests). */
  readonly terms: LeadershipTerm[] = [];
  private readonly config: KubernetesSourceConfig;
  private newestEventUs: number | undefined;

  constructor(config: KubernetesSourceConfig) {
    this.config = config;
    this.name = config.name;
  }

  lag(): SourceLag {
    return this.newestEventUs === undefined ? {} : { newestEventUs: this.newestEventUs };
  }

  async run(ctx: SourceContext): Promise<void> {
    const { config } = this;
    const client = new KubeClient(loadKubeConfig({ kubeconfig: config.kubeconfig, context: config.context }));
    const filter = new MetadataFilter({
      labelAllow: config.labels.allow,
      labelDeny: config.labels.deny,
      annotationAllow: config.annotations.allow,
    });
    const rc: RowContext = { node: ctx.node, source: this.name };
    const clusterKinds = config.kinds.filter((k) => k !== 'pods');
    const namespace = clusterKinds.length ? leaseNamespace(config.lease.namespace) : '';
    const tasks: Promise<void>[] = [];
    if (config.kinds.includes('pods')) {
      publishPodIndex(ctx.node, this.pods);
      tasks.push(this.runObjects(ctx, client, filter, rc, 'pods', this.pods, ctx.signal, `spec.nodeName=${ctx.node}`));
    }
    if (clusterKinds.length) {
      const identity = config.lease.identity ?? `${ctx.node}_${randomBytes(4).toString('hex')}`;
      let work: Promise<unknown> = Promise.resolve();
      const elector = new LeaderElector(
        client,
        {
          namespace,
          name: config.lease.name,
          identity,
          durationMs: config.lease.duration,
          renewDeadlineMs: config.lease.renew_deadline,
          retryPeriodMs: config.lease.retry_period,
        },
        {
          started: (term) => {
            this.terms.push({ from: Date.now() });
            ctx.metrics.k8sLeader.set(1);
            const signal = AbortSignal.any([ctx.signal, term]);
            work = Promise.allSettled(
              clusterKinds.map((kind) =>
                kind === 'events'
                  ? this.runEvents(ctx, client, rc, signal, term)
                  : this.runObjects(ctx, client, filter, rc, kind, new MapStore(), signal, undefined, term),
              ),
            );
          },
          stopped: async () => {
            await work;
            const current = this.terms.at(-1);
            if (current) current.until = Date.now();
            ctx.metrics.k8sLeader.set(0);
            for (const kind of clusterKinds) ctx.metrics.k8sCacheObjects.set({ kind }, 0);
          },
          transition: (t) => ctx.metrics.k8sLeaderTransitions.inc({ transition: t }),
        },
        ctx.logger,
      );
      ctx.metrics.k8sLeader.set(0);
      tasks.push(elector.run(ctx.signal));
    }
    try {
      await Promise.all(tasks);
    } finally {
      publishPodIndex(ctx.node, undefined);
    }
  }

  private observer(ctx: SourceContext, kind: string): ReflectorObserver {
    return {
      restart: (reason) => ctx.metrics.k8sWatchRestarts.inc({ kind, reason }),
      relist: (reason) => ctx.metrics.k8sRelists.inc({ kind, reason }),
      received: (type) => {
        ctx.metrics.k8sWatchEvents.inc({ kind, type });
        ctx.metrics.k8sLastEventMs.set(kind, Date.now());
      },
    };
  }

  /**
   * Waits for pipeline capacity, then hands rows over. Rows of a leadership
   * term that ended meanwhile are dropped (counted): another agent may be
   * exporting by now.
   */
  private emitter(ctx: SourceContext, table: TableName, signal: AbortSignal, term?: AbortSignal): Emit {
    return async (records) => {
      if (records.length === 0) return;
      if (!signal.aborted) await untilAborted(ctx.waitForCapacity(), signal);
      if (term?.aborted) {
        ctx.metrics.drop(table, this.name, 'k8s_lost_leadership', records.length);
        return;
      }
      for (const r of records) {
        const t = (r.row as { event_time: number }).event_time;
        if (this.newestEventUs === undefined || t > this.newestEventUs) this.newestEventUs = t;
      }
      ctx.emit(records);
    };
  }

  private invalidCounter(ctx: SourceContext, table: TableName, kind: string): (problem: string) => void {
    const log = new RateLimitedLog(ctx.logger, 60_000);
    return (problem) => {
      ctx.metrics.drop(table, this.name, 'k8s_invalid_object');
      log.warn(`${kind}:invalid`, { kind, problem }, 'kubernetes object dropped');
    };
  }

  private reflectorOptions(kind: string, path: string, fieldSelector?: string) {
    const w = this.config.watch;
    return {
      kind,
      path,
      fieldSelector,
      pageSize: w.page_size,
      backoffInitialMs: w.backoff_initial,
      backoffMaxMs: w.backoff_max,
      idleTimeoutMs: w.idle_timeout,
      maxQueued: w.max_queued_events,
    };
  }

  private async runObjects(
    ctx: SourceContext,
    client: KubeClient,
    filter: MetadataFilter,
    rc: RowContext,
    kind: Exclude<KubernetesKind, 'events'>,
    store: StateStore,
    signal: AbortSignal,
    fieldSelector?: string,
    term?: AbortSignal,
  ): Promise<void> {
    const info = OBJECT_KINDS[kind];
    const sink = new ObjectSink({
      kind: info.kind,
      store,
      emit: this.emitter(ctx, 'k8s_objects', signal, term),
      filter,
      rc,
      invalid: this.invalidCounter(ctx, 'k8s_objects', kind),
      cached: (size) => ctx.metrics.k8sCacheObjects.set({ kind }, size),
    });
    const reflector = new Reflector(
      client,
      this.reflectorOptions(kind, info.path, fieldSelector),
      sink,
      this.observer(ctx, kind),
      ctx.logger,
    );
    const snapshots = (async () => {
      for (;;) {
        await sleep(this.config.snapshot_interval, signal);
        if (signal.aborted) return;
        const n = await sink.snapshot();
        ctx.metrics.k8sSnapshots.inc({ kind });
        ctx.logger.debug({ kind, objects: n }, 'kubernetes snapshot written');
      }
    })();
    try {
      await reflector.run(signal);
    } finally {
      await snapshots;
      store.clear();
      ctx.metrics.k8sCacheObjects.set({ kind }, 0);
    }
  }

  private async runEvents(
    ctx: SourceContext,
    client: KubeClient,
    rc: RowContext,
    signal: AbortSignal,
    term: AbortSignal,
  ): Promise<void> {
    const path = EVENT_PATHS[this.config.events_api];
    const sink = new EventSink(
      this.emitter(ctx, 'k8s_events', signal, term),
      this.config.event_message,
      rc,
      this.invalidCounter(ctx, 'k8s_events', 'events'),
    );
    const reflector = new Reflector(
      client,
      this.reflectorOptions('events', path),
      sink,
      this.observer(ctx, 'events'),
      ctx.logger,
    );
    await reflector.run(signal);
  }
}

function untilAborted(p: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    p.then(done, done);
  });
}

function leaseNamespace(configured: string | undefined): string {
  if (configured) return configured;
  if (process.env.POD_NAMESPACE) return process.env.POD_NAMESPACE;
  try {
    const ns = readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim();
    if (ns) return ns;
  } catch {
    // not in a pod
  }
  throw new Error(
    'kubernetes: cannot tell the namespace for the leader Lease: set lease.namespace or POD_NAMESPACE (downward API metadata.namespace)',
  );
}

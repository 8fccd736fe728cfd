// LIST then WATCH one collection, forever. client-node's ListWatch gives up
// on most errors and never asks for bookmarks, so this is our own loop on its
// Watch: paginated LISTs, watches with bookmarks from the last resourceVersion
// we handled, a re-LIST when the server says 410 Gone, and jittered backoff
// that never stops. Events are handed to the sink in order; while the sink is
// slow (the pipeline is full) they queue up to a bound, then the watch is
// closed and later resumed from the last handled resourceVersion, so nothing
// is skipped: the server replays it, or answers 410 and we re-LIST.
import { nowUs } from '../../contract/time.ts';
import type { Logger } from '../../ops/logger.ts';
import { RateLimitedLog } from '../../ops/rate-limited-log.ts';
import { type KubeClient, statusOf } from './client.ts';

export type Json = Record<string, unknown>;

export interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: Json;
  /** When the event arrived (epoch µs); it may be handled later, when the pipeline has room. */
  readonly receivedUs: number;
}

/** Receives a collection's state. Calls never overlap. */
export interface ReflectorSink {
  /** A LIST starts (again, if a page expired midway); `initial` for the first LIST of this reflector. */
  listStart(initial: boolean): void;
  listPage(items: readonly unknown[], initial: boolean): Promise<void>;
  /** The LIST is complete: whatever the sink holds that was not listed is gone. */
  listEnd(initial: boolean): Promise<void>;
  events(batch: readonly WatchEvent[]): Promise<void>;
}

export interface ReflectorObserver {
  restart(reason: string): void;
  relist(reason: string): void;
  received(type: string): void;
}

export interface ReflectorOptions {
  /** Label for logs and metrics, e.g. `pods`. */
  readonly kind: string;
  /** Collection path, e.g. `/api/v1/pods`. */
  readonly path: string;
  readonly fieldSelector?: string | undefined;
  readonly pageSize: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly idleTimeoutMs: number;
  readonly maxQueued: number;
  /** Server-side watch duration, picked in this range per watch so reconnects spread out. Default 300–600 s. */
  readonly watchSeconds?: readonly [number, number];
}

type Outcome = 'closed' | 'idle_timeout' | 'expired' | 'error' | 'backpressure' | 'aborted';

const EVENT_BATCH = 500;

export class Reflector {
  private readonly client: KubeClient;
  private readonly options: ReflectorOptions;
  private readonly sink: ReflectorSink;
  private readonly observer: ReflectorObserver;
  private readonly logger: Logger;
  private readonly errors: RateLimitedLog;

  constructor(
    client: KubeClient,
    options: ReflectorOptions,
    sink: ReflectorSink,
    observer: ReflectorObserver,
    logger: Logger,
  ) {
    this.client = client;
    this.options = options;
    this.sink = sink;
    this.observer = observer;
    this.logger = logger;
    this.errors = new RateLimitedLog(logger, 60_000);
  }

  async run(signal: AbortSignal): Promise<void> {
    const { kind } = this.options;
    let rv: string | undefined;
    let initial = true;
    let relistReason = 'initial';
    let failures = 0;
    while (!signal.aborted) {
      if (rv === undefined) {
        try {
          rv = await this.list(signal, initial);
        } catch (err) {
          if (signal.aborted) break;
          failures++;
          this.observer.restart('list_error');
          this.errors.warn(
            `${kind}:list`,
            { kind, status: statusOf(err), err: (err as Error).message, retry: failures },
            'kubernetes LIST failed; retrying with backoff',
          );
          await sleep(this.backoff(failures), signal);
          continue;
        }
        if (!initial) this.observer.relist(relistReason);
        initial = false;
      }
      const started = Date.now();
      const result = await this.watchOnce(rv, signal);
      rv = result.rv;
      if (result.outcome === 'aborted') break;
      this.observer.restart(result.outcome);
      switch (result.outcome) {
        case 'expired':
          // The server no longer has our position: only a new LIST can tell what changed.
          rv = undefined;
          relistReason = 'expired';
          failures = 0;
          break;
        case 'backpressure':
          failures = 0;
          break;
        case 'error':
          failures++;
          this.errors.warn(
            `${kind}:watch`,
            { kind, status: statusOf(result.error), err: result.error?.message, retry: failures },
            'kubernetes watch failed; resuming with backoff',
          );
          await sleep(this.backoff(failures), signal);
          break;
        default:
          // A watch that ends at once without news is as bad as an error (a proxy cutting it, say).
          if (result.productive || Date.now() - started > 10_000) failures = 0;
          else {
            failures++;
            await sleep(this.backoff(failures), signal);
          }
      }
    }
  }

  private backoff(failures: number): number {
    const { backoffInitialMs, backoffMaxMs } = this.options;
    const base = Math.min(backoffMaxMs, backoffInitialMs * 2 ** Math.min(30, failures - 1));
    return base * (0.8 + 0.4 * Math.random());
  }

  /** Paginated LIST; returns the resourceVersion to watch from. */
  private async list(signal: AbortSignal, initial: boolean): Promise<string> {
    const { path, fieldSelector, pageSize } = this.options;
    for (let attempt = 1; ; attempt++) {
      this.sink.listStart(initial);
      let cont: string | undefined;
      let listRv: string | undefined;
      try {
        do {
          const body = (await this.client.getJson(
            path,
            { fieldSelector, limit: String(pageSize), continue: cont },
            signal,
          )) as { items?: unknown; metadata?: { resourceVersion?: unknown; continue?: unknown } } | undefined;
          if (!body || !Array.isArray(body.items) || typeof body.metadata?.resourceVersion !== 'string')
            throw new Error(`LIST ${path}: not a list (no items or resourceVersion)`);
          listRv = body.metadata.resourceVersion;
          cont =
            typeof body.metadata.continue === 'string' && body.metadata.continue ? body.metadata.continue : undefined;
          await this.sink.listPage(body.items, initial);
        } while (cont && !signal.aborted);
      } catch (err) {
        // A continue token outlived the server's history: start the LIST over.
        if (statusOf(err) === 410 && cont !== undefined && attempt < 3 && !signal.aborted) continue;
        throw err;
      }
      if (signal.aborted) throw new Error('stopped');
      await this.sink.listEnd(initial);
      return listRv!;
    }
  }

  private async watchOnce(
    rv: string,
    signal: AbortSignal,
  ): Promise<{ rv: string; outcome: Outcome; productive: boolean; error?: Error }> {
    const { path, fieldSelector, idleTimeoutMs, maxQueued, kind } = this.options;
    const [minS, maxS] = this.options.watchSeconds ?? [300, 600];
    const queue: { type: string; object: Json; receivedUs: number }[] = [];
    let stop: Outcome | undefined;
    let streamError: Error | undefined;
    let finished = false;
    let finishErr: unknown;
    let productive = false;
    let wake: (() => void) | undefined;
    let controller: AbortController | undefined;
    const poke = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const halt = (why: Outcome) => {
      stop ??= why;
      controller?.abort();
      poke();
    };
    const onAbort = () => halt('aborted');
    signal.addEventListener('abort', onAbort);
    try {
      const watch = this.client.newWatch(idleTimeoutMs);
      controller = await watch.watch(
        path,
        {
          allowWatchBookmarks: true,
          resourceVersion: rv,
          timeoutSeconds: Math.round(minS + Math.random() * (maxS - minS)),
          ...(fieldSelector ? { fieldSelector } : {}),
        },
        (type: string, object: unknown) => {
          if (stop) return;
          productive = true;
          this.observer.received(type);
          if (type === 'ERROR') {
            const status = object as { code?: unknown; message?: unknown } | undefined;
            if (status?.code === 410) halt('expired');
            else {
              streamError = new Error(`watch ERROR event: ${String(status?.code)} ${String(status?.message ?? '')}`);
              (streamError as Error & { statusCode?: unknown }).statusCode = status?.code;
              halt('error');
            }
            return;
          }
          if (object === null || typeof object !== 'object') return;
          queue.push({ type, object: object as Json, receivedUs: nowUs() });
          if (queue.length >= maxQueued) halt('backpressure');
          poke();
        },
        (err: unknown) => {
          finished = true;
          finishErr = err;
          poke();
        },
      );
      if (stop) controller.abort();

      let lastRv = rv;
      for (;;) {
        if (queue.length) {
          const batch = queue.splice(0, EVENT_BATCH);
          const events: WatchEvent[] = [];
          for (const e of batch) {
            const v = (e.object.metadata as Json | undefined)?.resourceVersion;
            if (typeof v === 'string' && v) lastRv = v;
            if (e.type === 'ADDED' || e.type === 'MODIFIED' || e.type === 'DELETED')
              events.push(e as unknown as WatchEvent);
          }
          if (events.length) await this.sink.events(events);
          continue;
        }
        if (finished) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
          if (finished || queue.length) poke();
        });
      }
      let outcome: Outcome;
      let error: Error | undefined;
      if (signal.aborted) outcome = 'aborted';
      else if (stop === 'error') {
        outcome = 'error';
        error = streamError;
      } else if (stop) outcome = stop;
      else if (finishErr) {
        const name = (finishErr as { name?: unknown }).name;
        if (statusOf(finishErr) === 410) outcome = 'expired';
        else if (name === 'TimeoutError') outcome = 'idle_timeout';
        else {
          outcome = 'error';
          error = finishErr instanceof Error ? finishErr : new Error(String(finishErr));
        }
      } else outcome = 'closed';
      this.logger.debug({ kind, outcome, rv: lastRv }, 'kubernetes watch ended');
      return { rv: lastRv, outcome, productive, ...(error ? { error } : {}) };
    } catch (err) {
      controller?.abort();
      if (signal.aborted) return { rv, outcome: 'aborted', productive };
      return { rv, outcome: 'error', productive, error: err as Error };
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

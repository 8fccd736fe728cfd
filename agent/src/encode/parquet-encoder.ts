// Main-thread side of the Parquet encoder: a small pool of worker threads, so
// that encoding runs beside the main thread and can use more than one core. Workers start on demand; a request goes to the worker with the least
// work. A worker that dies is replaced on the next request; the requests it
// had fail with a clear error and the caller retries them (the batch is still
// in memory). The pool encodes in any order: the pipeline commits in order.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { TableSchema } from '../contract/schema.ts';
import { buffersOf, type ColumnData } from './column-data.ts';
import type { WriteOptions } from './parquet/writer.ts';

export type { Compression } from './parquet/writer.ts';

export type EncodeOptions = WriteOptions;

/** A batch's rows as finished columns, in the schema's column order. */
export interface ColumnBatch {
  readonly schema: TableSchema;
  readonly columns: readonly ColumnData[];
}

export interface EncoderPoolOptions extends EncodeOptions {
  /** Worker threads at most; default min(2, available cores). */
  readonly workers?: number;
}

export interface EncodeRequest extends EncodeOptions {
  readonly id: number;
  readonly batch: ColumnBatch;
}

export type EncodeResponse =
  | { readonly id: number; readonly bytes: Uint8Array }
  | { readonly id: number; readonly error: string };

interface Pending {
  resolve(bytes: Uint8Array): void;
  reject(err: Error): void;
}

/** One running worker and the requests it holds. */
interface Running {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
}

export const defaultEncodeWorkers = (): number => Math.max(1, Math.min(2, availableParallelism()));

export class ParquetEncoder {
  /** Encodes that can run at once; the pipeline keeps this many in flight. */
  readonly workers: number;
  private readonly running: (Running | undefined)[];
  private nextId = 1;
  private readonly options: EncodeOptions;

  constructor({ workers, ...options }: EncoderPoolOptions) {
    this.options = options;
    this.workers = workers ?? defaultEncodeWorkers();
    this.running = Array.from({ length: this.workers }, () => undefined);
  }

  /**
   * Encodes one batch as a Parquet file. The columns' buffers move to the
   * worker (they are the batch's copies from TableBatch.toColumns, not the
   * builders' own): a batch is encoded from a fresh copy on each attempt.
   */
  encode(batch: ColumnBatch): Promise<Uint8Array> {
    const { worker, pending } = this.pick();
    const id = this.nextId++;
    const request: EncodeRequest = { ...this.options, id, batch };
    const transfer: ArrayBuffer[] = [];
    for (const c of batch.columns) buffersOf(c, transfer);
    return new Promise<Uint8Array>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      // Referenced only while work is pending, so an idle encoder never keeps
      // the process alive and a busy one always does.
      worker.ref();
      worker.postMessage(request, transfer);
    });
  }

  async close(): Promise<void> {
    const workers = this.running.flatMap((r) => (r ? [r.worker] : []));
    this.running.fill(undefined);
    await Promise.all(workers.map((w) => w.terminate()));
  }

  /** An idle worker first (already started and warm), then a new one, then the least busy. */
  private pick(): Running {
    for (const r of this.running) if (r && r.pending.size === 0) return r;
    const free = this.running.indexOf(undefined);
    if (free >= 0) return this.start(free);
    let best: Running | undefined;
    for (const r of this.running) if (r && (!best || r.pending.size < best.pending.size)) best = r;
    return best!;
  }

  private start(index: number): Running {
    const worker = new Worker(new URL('./encode-worker.ts', import.meta.url));
    worker.unref();
    const self: Running = { worker, pending: new Map() };
    const { pending } = self;
    worker.on('message', (res: EncodeResponse) => {
      const p = pending.get(res.id);
      if (!p) return;
      pending.delete(res.id);
      if (pending.size === 0) worker.unref();
      if ('error' in res) p.reject(new Error(`parquet encoding failed: ${res.error}`));
      else p.resolve(res.bytes);
    });
    const fail = (err: Error) => {
      if (this.running[index] === self) this.running[index] = undefined;
      for (const p of pending.values()) p.reject(err);
      pending.clear();
    };
    worker.on('error', (err) => fail(new Error(`parquet encoder worker crashed: ${err.message}`)));
    worker.on('exit', (code) => {
      if (pending.size) fail(new Error(`parquet encoder worker exited with code ${code}`));
      else if (this.running[index] === self) this.running[index] = undefined;
    });
    this.running[index] = self;
    return self;
  }
}

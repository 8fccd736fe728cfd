// Main-thread side of the Parquet encoder: one worker, requests queued in
// order. The worker is restarted if it dies; the request in flight fails with
// a clear error and the caller retries it (the batch is still in memory).
import { Worker } from 'node:worker_threads';

export type Compression = 'zstd' | 'snappy' | 'none';

export interface EncodeOptions {
  readonly compression: Compression;
  readonly rowGroupRows: number;
  readonly createdBy: string;
}

export interface EncodeRequest extends EncodeOptions {
  readonly id: number;
  readonly ipc: ArrayBuffer;
  readonly columns: readonly string[];
}

export type EncodeResponse =
  | { readonly id: number; readonly bytes: Uint8Array }
  | { readonly id: number; readonly error: string };

interface Pending {
  resolve(bytes: Uint8Array): void;
  reject(err: Error): void;
}

export class ParquetEncoder {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly options: EncodeOptions;

  constructor(options: EncodeOptions) {
    this.options = options;
  }

  /** Encodes one Arrow IPC stream (ownership of its buffer moves to the worker). */
  encode(ipc: Uint8Array, columns: readonly string[]): Promise<Uint8Array> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    // Transfer needs a buffer of exactly these bytes.
    const buffer =
      ipc.byteOffset === 0 && ipc.byteLength === ipc.buffer.byteLength
        ? (ipc.buffer as ArrayBuffer)
        : (ipc.slice().buffer as ArrayBuffer);
    const request: EncodeRequest = { ...this.options, id, ipc: buffer, columns };
    return new Promise<Uint8Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Referenced only while work is pending, so an idle encoder never keeps
      // the process alive and a busy one always does.
      worker.ref();
      worker.postMessage(request, [buffer]);
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./encode-worker.ts', import.meta.url));
    worker.unref();
    worker.on('message', (res: EncodeResponse) => {
      const p = this.pending.get(res.id);
      if (!p) return;
      this.pending.delete(res.id);
      if (this.pending.size === 0) worker.unref();
      if ('error' in res) p.reject(new Error(`parquet encoding failed: ${res.error}`));
      else p.resolve(res.bytes);
    });
    const fail = (err: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', (err) => fail(new Error(`parquet encoder worker crashed: ${err.message}`)));
    worker.on('exit', (code) => {
      if (this.pending.size) fail(new Error(`parquet encoder worker exited with code ${code}`));
      else if (this.worker === worker) this.worker = undefined;
    });
    this.worker = worker;
    return worker;
  }
}

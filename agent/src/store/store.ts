// The last stage: where finished Parquet objects go. A store only ever
// receives complete, immutable files from the spool, under deterministic keys,
// so a retried put writes the same key with the same bytes (idempotent).

export interface ObjectStore {
  /** Short name for logs and metric labels: `local`, `s3`. */
  readonly kind: string;
  /** Human-readable destination, e.g. `s3://bucket/prefix` or a directory. */
  readonly location: string;
  /**
   * Writes `body` under `key` (relative, `/`-separated, no leading slash).
   * Resolves only when the object is durable in the store. Rejects with an
   * error whose `retryable` property says whether trying again can help.
   */
  put(key: string, body: Uint8Array): Promise<void>;
  /** Releases connections; called once on shutdown. */
  close(): Promise<void>;
}

export class StoreError extends Error {
  readonly retryable: boolean;
  constructor(message: string, retryable: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.retryable = retryable;
  }
}

/** Zero-padded so that keys sort in sequence order. */
export function formatSeq(seq: number): string {
  return String(seq).padStart(12, '0');
}

export interface ObjectKeyParts {
  readonly prefix: string;
  readonly table: string;
  /** Start of the event hour the file's rows belong to, epoch microseconds UTC. */
  readonly hourStartUs: number;
  readonly node: string;
  readonly epoch: string;
  readonly seq: number;
}

/** `<prefix>/v1/<table>/date=YYYY-MM-DD/hour=HH/node=<node>/<epoch>-<seq>.parquet` */
export function objectKey(p: ObjectKeyParts): string {
  const iso = new Date(Math.floor(p.hourStartUs / 1000)).toISOString();
  const path = `v1/${p.table}/date=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}/node=${p.node}/${p.epoch}-${formatSeq(p.seq)}.parquet`;
  const prefix = p.prefix.replace(/^\/+|\/+$/g, '');
  return prefix ? `${prefix}/${path}` : path;
}

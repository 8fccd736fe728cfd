// The embedded default store: a directory laid out exactly like the bucket
// would be, so the lakehouse reads both the same way.
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { writeFileDurably } from '../spool/durable-file.ts';
import { type ObjectStore, StoreError } from './store.ts';

export class LocalDirectoryStore implements ObjectStore {
  readonly kind = 'local';
  readonly location: string;

  constructor(root: string) {
    this.location = resolve(root);
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    if (key.startsWith('/') || key.split('/').includes('..')) throw new StoreError(`invalid object key ${key}`, false);
    const path = join(this.location, key);
    try {
      await mkdir(dirname(path), { recursive: true });
      await writeFileDurably(path, body);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A full or read-only disk may recover; a permission problem will not.
      const retryable = code !== 'EACCES' && code !== 'EPERM';
      throw new StoreError(`writing ${path} failed: ${(err as Error).message}`, retryable, { cause: err });
    }
  }

  async close(): Promise<void> {}
}

// A local-directory store whose availability the test controls: puts wait
// while the gate is closed, so the spool fills and backpressure reaches the
// sources.
import { LocalDirectoryStore } from '../../agent/src/store/local.ts';
import type { ObjectStore } from '../../agent/src/store/store.ts';

export class GatedStore implements ObjectStore {
  readonly kind = 'local';
  readonly location: string;
  private readonly inner: LocalDirectoryStore;
  private readonly gate: Promise<void>;
  private openGate!: () => void;

  constructor(dir: string) {
    this.inner = new LocalDirectoryStore(dir);
    this.location = this.inner.location;
    this.gate = new Promise((resolve) => {
      this.openGate = resolve;
    });
  }

  open(): void {
    this.openGate();
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    await this.gate;
    await this.inner.put(key, body);
  }

  async close(): Promise<void> {}
}

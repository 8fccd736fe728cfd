// A resumed GetFlows stream starts `overlap` before the newest flow already
// received, so the first flows it delivers were seen before. This remembers
// the keys of recent flows — only those young enough to be replayed, and at
// most `maxEntries` — and tells a replayed flow from a new one.
//
// Keys leave in arrival order (close to time order) through a queue: deleting
// the oldest entries of a Map and iterating it from the front again would
// walk over the deleted slots each time.

export class OverlapDedupe {
  private readonly seen = new Set<string>();
  private keys: string[] = [];
  private times: number[] = [];
  private head = 0;
  private newestUs = Number.NEGATIVE_INFINITY;
  private readonly windowUs: number;
  private readonly maxEntries: number;

  constructor(windowUs: number, maxEntries: number) {
    this.windowUs = windowUs;
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.seen.size;
  }

  /** Newest flow time admitted, epoch µs. */
  get newest(): number | undefined {
    return Number.isFinite(this.newestUs) ? this.newestUs : undefined;
  }

  has(key: string): boolean {
    return this.seen.has(key);
  }

  /** Records the flow; false when it was admitted before (a replayed duplicate). */
  admit(key: string, eventUs: number): boolean {
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    this.keys.push(key);
    this.times.push(eventUs);
    if (eventUs > this.newestUs) this.newestUs = eventUs;
    // A replay starts at newest - window, so anything older cannot come back.
    const horizon = this.newestUs - this.windowUs;
    while (this.head < this.keys.length && (this.times[this.head]! < horizon || this.seen.size > this.maxEntries))
      this.seen.delete(this.keys[this.head++]!);
    if (this.head > 4096 && this.head * 2 > this.keys.length) {
      this.keys = this.keys.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return true;
  }
}

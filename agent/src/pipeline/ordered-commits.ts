// Positions are acknowledged out of order (records of one read can land in
// several batches), but a source may only commit a position once everything
// before it is durable. This tracks the contiguous acknowledged prefix.

export class OrderedCommits<P> {
  private readonly inFlight: { position: P; done: boolean }[] = [];
  private head = 0;

  /** Registers a position in read order; returns the callback that acknowledges it. */
  track(position: P): () => P | undefined {
    const entry = { position, done: false };
    this.inFlight.push(entry);
    return () => {
      entry.done = true;
      return this.advance();
    };
  }

  get pending(): number {
    return this.inFlight.length - this.head;
  }

  /** Returns the newest position whose predecessors are all acknowledged, if it moved. */
  private advance(): P | undefined {
    let committed: P | undefined;
    while (this.head < this.inFlight.length && this.inFlight[this.head]!.done) {
      committed = this.inFlight[this.head]!.position;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.inFlight.length) {
      this.inFlight.splice(0, this.head);
      this.head = 0;
    }
    return committed;
  }
}

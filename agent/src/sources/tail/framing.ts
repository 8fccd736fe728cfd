// Cuts a file's bytes into newline-terminated lines, with byte offsets, in
// bounded memory. Only the unfinished tail of a read is copied; a line longer
// than the bound keeps its first `maxBytes` and the rest is skipped up to its
// newline, so one runaway writer cannot grow the agent's memory.

const EMPTY = Buffer.alloc(0);

/** Called for each complete line; the bytes are only valid during the call. */
export type LineSink = (buf: Buffer, start: number, end: number, offset: number, cut: boolean) => void;

export class LineSplitter {
  readonly maxBytes: number;
  private carry: Buffer | undefined;
  private carryLen = 0;
  /** File offset of the unfinished line, or -1 when there is none. */
  private carryOffset = -1;
  private carryCut = false;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  /** File offset where the unfinished line began, if there is one. */
  pendingStart(): number | undefined {
    return this.carryOffset === -1 ? undefined : this.carryOffset;
  }

  /** Feeds `chunk`, read at file offset `offset`; `sink` receives every line it completes. */
  push(chunk: Buffer, offset: number, sink: LineSink): void {
    let pos = 0;
    if (this.carryOffset !== -1) {
      const nl = chunk.indexOf(10);
      if (nl === -1) {
        this.append(chunk, 0, chunk.length);
        return;
      }
      this.append(chunk, 0, nl);
      const line = this.carry ?? EMPTY;
      const lineOffset = this.carryOffset;
      const cut = this.carryCut;
      const len = this.carryLen;
      this.clear();
      sink(line, 0, len, lineOffset, cut);
      pos = nl + 1;
    }
    const max = this.maxBytes;
    for (let nl = chunk.indexOf(10, pos); nl !== -1; nl = chunk.indexOf(10, pos)) {
      if (nl - pos > max) sink(chunk, pos, pos + max, offset + pos, true);
      else sink(chunk, pos, nl, offset + pos, false);
      pos = nl + 1;
    }
    if (pos < chunk.length) {
      this.carryOffset = offset + pos;
      this.carryLen = 0;
      this.carryCut = false;
      this.append(chunk, pos, chunk.length);
    }
  }

  /** Hands out the unfinished line as if it were complete (a rotated file that will not grow). */
  flush(sink: LineSink): void {
    if (this.carryOffset === -1) return;
    const line = this.carry ?? EMPTY;
    const lineOffset = this.carryOffset;
    const cut = this.carryCut;
    const len = this.carryLen;
    this.clear();
    sink(line, 0, len, lineOffset, cut);
  }

  private append(src: Buffer, start: number, end: number): void {
    const room = this.maxBytes - this.carryLen;
    const n = Math.min(room, end - start);
    if (n < end - start) this.carryCut = true;
    if (n <= 0) return;
    if (!this.carry || this.carry.length < this.carryLen + n) {
      const next = Buffer.allocUnsafe(Math.min(this.maxBytes, Math.max(1024, (this.carryLen + n) * 2)));
      if (this.carry && this.carryLen) this.carry.copy(next, 0, 0, this.carryLen);
      this.carry = next;
    }
    src.copy(this.carry, this.carryLen, start, start + n);
    this.carryLen += n;
  }

  private clear(): void {
    this.carryOffset = -1;
    this.carryCut = false;
    this.carryLen = 0;
    // A buffer grown for one long line is not kept for the file's lifetime.
    if (this.carry && this.carry.length > 64 * 1024) this.carry = undefined;
  }
}

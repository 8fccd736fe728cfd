// A growable byte buffer with the few primitives the Parquet writer needs.

export class ByteSink {
  private buf: Uint8Array;
  length = 0;
  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }
  /** Room for n more bytes; returns the buffer to write at `length`. */
  reserve(n: number): Uint8Array {
    const need = this.length + n;
    if (need > this.buf.length) {
      const next = new Uint8Array(Math.max(need, this.buf.length * 2));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    return this.buf;
  }
  byte(b: number): void {
    this.reserve(1)[this.length++] = b;
  }
  /** Unsigned LEB128, exact for integers up to 2^53. */
  varint(n: number): void {
    const b = this.reserve(8);
    let p = this.length;
    while (n >= 0x80) {
      b[p++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    b[p++] = n;
    this.length = p;
  }
  uint32le(n: number): void {
    const b = this.reserve(4);
    const p = this.length;
    b[p] = n & 0xff;
    b[p + 1] = (n >>> 8) & 0xff;
    b[p + 2] = (n >>> 16) & 0xff;
    b[p + 3] = (n >>> 24) & 0xff;
    this.length = p + 4;
  }
  /** Overwrites 4 bytes written earlier (a length known only afterwards). */
  patchUint32le(at: number, n: number): void {
    const b = this.buf;
    b[at] = n & 0xff;
    b[at + 1] = (n >>> 8) & 0xff;
    b[at + 2] = (n >>> 16) & 0xff;
    b[at + 3] = (n >>> 24) & 0xff;
  }
  bytes(src: Uint8Array): void {
    this.reserve(src.length).set(src, this.length);
    this.length += src.length;
  }
  /** The bytes written so far (a view: valid until the next write). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

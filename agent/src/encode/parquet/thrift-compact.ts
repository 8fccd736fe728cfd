// Thrift compact protocol, write side only: the subset Parquet's footer and
// page headers use (structs, i16/i32/i64, bool, binary/string, lists).
import { ByteSink } from './byte-sink.ts';

/** Compact-protocol type ids. */
export const CT = {
  TRUE: 1,
  FALSE: 2,
  BYTE: 3,
  I16: 4,
  I32: 5,
  I64: 6,
  DOUBLE: 7,
  BINARY: 8,
  LIST: 9,
  SET: 10,
  MAP: 11,
  STRUCT: 12,
} as const;

const utf8 = new TextEncoder();
const TWO_POW_52 = 2 ** 52;

export class CompactWriter {
  readonly out: ByteSink;
  /** Last field id written in the current struct: headers carry the delta. */
  private lastField = 0;
  private readonly outer: number[] = [];

  constructor(out = new ByteSink()) {
    this.out = out;
  }

  private header(id: number, type: number): void {
    const delta = id - this.lastField;
    if (delta > 0 && delta <= 15) this.out.byte((delta << 4) | type);
    else {
      this.out.byte(type);
      this.out.varint(zigzag32(id));
    }
    this.lastField = id;
  }

  i16(id: number, v: number): void {
    this.header(id, CT.I16);
    this.out.varint(zigzag32(v));
  }
  i32(id: number, v: number): void {
    this.header(id, CT.I32);
    this.out.varint(zigzag32(v));
  }
  i64(id: number, v: number): void {
    this.header(id, CT.I64);
    this.varint64(v);
  }
  bool(id: number, v: boolean): void {
    this.header(id, v ? CT.TRUE : CT.FALSE);
  }
  binary(id: number, v: Uint8Array): void {
    this.header(id, CT.BINARY);
    this.out.varint(v.length);
    this.out.bytes(v);
  }
  string(id: number, v: string): void {
    this.binary(id, utf8.encode(v));
  }

  /** Opens a struct-typed field; close it with end(). */
  struct(id: number): void {
    this.header(id, CT.STRUCT);
    this.enter();
  }
  /** Closes the innermost struct (a field's, a list element's, or the top-level one). */
  end(): void {
    this.out.byte(0);
    this.lastField = this.outer.pop() ?? 0;
  }

  /** Opens a list field of `size` elements of `type`; write the elements with the list* methods. */
  list(id: number, type: number, size: number): void {
    this.header(id, CT.LIST);
    if (size < 15) this.out.byte((size << 4) | type);
    else {
      this.out.byte(0xf0 | type);
      this.out.varint(size);
    }
  }
  listI32(v: number): void {
    this.out.varint(zigzag32(v));
  }
  listString(v: string): void {
    const b = utf8.encode(v);
    this.out.varint(b.length);
    this.out.bytes(b);
  }
  /** Opens a struct element of a list; close it with end(). */
  listStruct(): void {
    this.enter();
  }

  private enter(): void {
    this.outer.push(this.lastField);
    this.lastField = 0;
  }

  private varint64(v: number): void {
    if (!Number.isSafeInteger(v)) throw new RangeError(`i64 out of range: ${v}`);
    if (Math.abs(v) < TWO_POW_52) {
      // Zigzag: 0, -1, 1, -2 … → 0, 1, 2, 3 …; exact in doubles below 2^53.
      this.out.varint(v >= 0 ? 2 * v : -2 * v - 1);
      return;
    }
    let z = BigInt(v);
    z = z >= 0n ? z << 1n : (-z << 1n) - 1n;
    while (z >= 0x80n) {
      this.out.byte(Number(z & 0x7fn) | 0x80);
      z >>= 7n;
    }
    this.out.byte(Number(z));
  }
}

export const zigzag32 = (v: number): number => ((v << 1) ^ (v >> 31)) >>> 0;

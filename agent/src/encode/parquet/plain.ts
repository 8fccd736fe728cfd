// PLAIN encoding of a leaf's values (nulls have no value: levels say where
// they are). Multi-byte values are written in the platform's byte order,
// which the writer checks is little-endian, as Parquet's is.
import type { ColumnData } from '../column-data.ts';
import type { Shredded } from './shred.ts';

/** The slots of the entries [e0, e1) that hold a value, or a [start, end) range when they are contiguous. */
export function valueSlots(sh: Shredded, maxDef: number, e0: number, e1: number): Int32Array | [number, number] {
  const { defs, slots } = sh;
  if (!defs && !slots) return [sh.first + e0, sh.first + e1];
  let n = 0;
  if (defs) for (let k = e0; k < e1; k++) n += defs[k] === maxDef ? 1 : 0;
  else n = e1 - e0;
  const out = new Int32Array(n);
  let p = 0;
  for (let k = e0; k < e1; k++) {
    if (defs && defs[k] !== maxDef) continue;
    out[p++] = slots ? slots[k]! : sh.first + k;
  }
  return out;
}

/** Uncompressed PLAIN size of one slot's value. */
export function valueSize(data: ColumnData, slot: number): number {
  switch (data.kind) {
    case 'utf8':
      return 4 + data.offsets[slot + 1]! - data.offsets[slot]!;
    case 'int32':
      return 4;
    case 'float64':
    case 'int64':
      return 8;
    default:
      return 1;
  }
}

const bytesOf = (a: Int32Array | Float64Array, from: number, to: number) =>
  new Uint8Array(a.buffer, a.byteOffset + from * a.BYTES_PER_ELEMENT, (to - from) * a.BYTES_PER_ELEMENT);

export function plainValues(data: ColumnData, which: Int32Array | [number, number]): Uint8Array {
  const range = Array.isArray(which);
  const count = range ? which[1] - which[0] : which.length;
  const slotAt = (k: number) => (range ? which[0] + k : which[k]!);
  switch (data.kind) {
    case 'int32':
    case 'float64': {
      if (range) return bytesOf(data.values, which[0], which[1]);
      const out = data.kind === 'int32' ? new Int32Array(count) : new Float64Array(count);
      for (let k = 0; k < count; k++) out[k] = data.values[which[k]!]!;
      return bytesOf(out, 0, count);
    }
    case 'int64': {
      if (range) return bytesOf(data.words, 2 * which[0], 2 * which[1]);
      const out = new Int32Array(2 * count);
      const w = data.words;
      for (let k = 0; k < count; k++) {
        const s = which[k]!;
        out[2 * k] = w[2 * s]!;
        out[2 * k + 1] = w[2 * s + 1]!;
      }
      return bytesOf(out, 0, 2 * count);
    }
    case 'bool': {
      const out = new Uint8Array((count + 7) >> 3);
      const bits = data.bits;
      for (let k = 0; k < count; k++) {
        const s = slotAt(k);
        if (bits[s >> 3]! & (1 << (s & 7))) out[k >> 3]! |= 1 << (k & 7);
      }
      return out;
    }
    case 'utf8': {
      // A null or an absent entry has an empty byte range, so the values' bytes
      // are one block: copy it to the end of the output, then move each value
      // forward into place behind its length (never over bytes not yet moved).
      const { offsets, bytes } = data;
      if (count === 0) return new Uint8Array(0);
      const firstSlot = slotAt(0);
      const lastSlot = slotAt(count - 1);
      const block = offsets[lastSlot + 1]! - offsets[firstSlot]!;
      const out = new Uint8Array(4 * count + block);
      const base = 4 * count - offsets[firstSlot]!;
      out.set(bytes.subarray(offsets[firstSlot]!, offsets[lastSlot + 1]!), 4 * count);
      let p = 0;
      for (let k = 0; k < count; k++) {
        const s = range ? which[0] + k : which[k]!;
        const a = offsets[s]!;
        const len = offsets[s + 1]! - a;
        out[p] = len & 0xff;
        out[p + 1] = (len >>> 8) & 0xff;
        out[p + 2] = (len >>> 16) & 0xff;
        out[p + 3] = len >>> 24;
        p += 4;
        if (len > 0) out.copyWithin(p, base + a, base + a + len);
        p += len;
      }
      return out;
    }
    default:
      throw new Error(`no values to encode in a ${data.kind} column`);
  }
}

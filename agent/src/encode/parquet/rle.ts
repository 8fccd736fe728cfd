// Parquet's RLE / bit-packed hybrid encoding of repetition and definition
// levels, as DataPage V1 stores them: a 4-byte little-endian length, then
// runs. A run of 8 or more equal levels becomes an RLE run; anything else is
// bit-packed in groups of 8 (LSB first), the last group padded with zeros
// (readers stop at the page's value count).
import type { ByteSink } from './byte-sink.ts';

/** Bits per level for levels 0..maxLevel. */
export const bitWidth = (maxLevel: number): number => (maxLevel === 0 ? 0 : 32 - Math.clz32(maxLevel));

/** Writes levels[from, to) with the 4-byte length prefix. */
export function writeLevels(out: ByteSink, levels: Uint8Array, from: number, to: number, width: number): void {
  const at = out.length;
  out.uint32le(0);
  encodeHybrid(out, levels, from, to, width);
  out.patchUint32le(at, out.length - at - 4);
}

/** Writes `count` copies of one level with the 4-byte length prefix (a column with no nulls). */
export function writeConstantLevels(out: ByteSink, level: number, count: number, width: number): void {
  const at = out.length;
  out.uint32le(0);
  if (count > 0) rleRun(out, level, count, width);
  out.patchUint32le(at, out.length - at - 4);
}

/** The hybrid runs of levels[from, to), without a length prefix. */
export function encodeHybrid(out: ByteSink, levels: Uint8Array, from: number, to: number, width: number): void {
  // Pending bit-packed values are levels[litStart, litStart + litCount): always
  // contiguous, and a multiple of 8 whenever an RLE run follows them.
  let litStart = from;
  let litCount = 0;
  let i = from;
  while (i < to) {
    const v = levels[i]!;
    let j = i + 1;
    while (j < to && levels[j] === v) j++;
    let run = j - i;
    if (run >= 8) {
      const pad = (8 - (litCount & 7)) & 7;
      litCount += pad;
      run -= pad;
      if (run >= 8) {
        bitPacked(out, levels, litStart, litCount, width);
        rleRun(out, v, run, width);
        litStart = j;
        litCount = 0;
      } else litCount += run;
    } else litCount += run;
    i = j;
  }
  bitPacked(out, levels, litStart, litCount, width);
}

function rleRun(out: ByteSink, value: number, count: number, width: number): void {
  out.varint(count * 2);
  for (let bytes = (width + 7) >> 3, v = value; bytes > 0; bytes--, v >>>= 8) out.byte(v & 0xff);
}

function bitPacked(out: ByteSink, levels: Uint8Array, start: number, count: number, width: number): void {
  if (count === 0) return;
  const groups = (count + 7) >> 3;
  out.varint(groups * 2 + 1);
  const size = groups * width;
  const b = out.reserve(size);
  const base = out.length;
  b.fill(0, base, base + size);
  for (let k = 0, bit = 0; k < count; k++, bit += width) {
    const v = levels[start + k]!;
    const byte = base + (bit >> 3);
    const shift = bit & 7;
    b[byte]! |= (v << shift) & 0xff;
    if (shift + width > 8) b[byte + 1]! |= v >> (8 - shift);
  }
  out.length = base + size;
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ByteSink } from './byte-sink.ts';
import { bitWidth, writeConstantLevels, writeLevels } from './rle.ts';

/** Reads `count` levels of a length-prefixed hybrid stream, straight from the format's description. */
function decode(buf: Uint8Array, width: number, count: number): { levels: number[]; end: number } {
  const length = buf[0]! | (buf[1]! << 8) | (buf[2]! << 16) | (buf[3]! << 24);
  let p = 4;
  const end = 4 + length;
  const varint = () => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = buf[p++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
      shift += 7;
    }
  };
  const levels: number[] = [];
  while (levels.length < count) {
    assert.ok(p < end, 'runs end before the levels do');
    const header = varint();
    if (header % 2 === 0) {
      let value = 0;
      for (let k = 0; k < Math.ceil(width / 8); k++) value |= buf[p++]! << (8 * k);
      for (let k = 0; k < header / 2; k++) levels.push(value);
    } else {
      const n = ((header - 1) / 2) * 8;
      const start = p * 8;
      for (let k = 0; k < n; k++) {
        let v = 0;
        for (let b = 0; b < width; b++) {
          const bit = start + k * width + b;
          v |= ((buf[bit >> 3]! >> (bit & 7)) & 1) << b;
        }
        levels.push(v);
      }
      p += (n * width) / 8;
    }
  }
  assert.equal(p, end, 'the length prefix covers exactly the runs');
  return { levels: levels.slice(0, count), end };
}

const runs = (maxLevel: number) =>
  fc
    .array(
      fc.tuple(
        fc.integer({ min: 0, max: maxLevel }),
        fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 40 })),
      ),
      {
        maxLength: 40,
      },
    )
    .map((rs) => rs.flatMap(([v, n]) => Array<number>(n).fill(v)));

test('levels round-trip through the hybrid encoding for every bit width used', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 7 }).chain((max) => fc.tuple(fc.constant(max), runs(max), fc.nat(5), fc.nat(5))),
      ([max, levels, before, after]) => {
        // Encode a window of a larger array, as pages do.
        const all = new Uint8Array([...Array<number>(before).fill(max), ...levels, ...Array<number>(after).fill(0)]);
        const out = new ByteSink(4);
        writeLevels(out, all, before, before + levels.length, bitWidth(max));
        const got = decode(out.view(), bitWidth(max), levels.length);
        assert.deepEqual(got.levels, levels);
        assert.equal(got.end, out.length);
      },
    ),
    { numRuns: 500 },
  );
});

test('constant levels are one RLE run; bit widths', () => {
  const out = new ByteSink();
  writeConstantLevels(out, 3, 1000, 2);
  assert.deepEqual(decode(out.view(), 2, 1000).levels, Array<number>(1000).fill(3));
  assert.equal(out.length, 4 + 2 + 1);
  assert.deepEqual([0, 1, 2, 3, 4, 7, 8].map(bitWidth), [0, 1, 2, 2, 3, 3, 4]);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CompactWriter, CT } from './thrift-compact.ts';

const hex = (w: CompactWriter) => Buffer.from(w.out.view()).toString('hex');

test('i32 fields: zigzag varints, down to the most negative value', () => {
  const w = new CompactWriter();
  w.i32(1, 0);
  w.i32(2, -1);
  w.i32(3, 1);
  w.i32(4, 300);
  w.i32(5, -2147483648);
  w.i32(6, 2147483647);
  assert.equal(hex(w), ['1500', '1501', '1502', '15d804', '15ffffffff0f', '15feffffff0f'].join(''));
});

test('field ids: one-byte deltas up to 15, the long form for larger jumps and for going back', () => {
  const w = new CompactWriter();
  w.i32(1, 1);
  w.i32(16, 1); // delta 15: still short
  w.i32(32, 1); // delta 16: long form, id as zigzag varint
  w.i32(2, 1); // backwards: long form
  w.bool(3, true);
  w.bool(4, false);
  assert.equal(hex(w), ['1502', 'f502', '054002', '050402', '11', '12'].join(''));
});

test('i64 fields beyond 32 bits, negative ones and beyond 2^52', () => {
  const w = new CompactWriter();
  w.i64(1, 2 ** 31);
  w.i64(2, -(2 ** 40));
  w.i64(3, 2 ** 53 - 1);
  w.i64(4, -(2 ** 53 - 1));
  const varint = (n: bigint) => {
    let s = '';
    while (n >= 0x80n) {
      s += ((n & 0x7fn) | 0x80n).toString(16).padStart(2, '0');
      n >>= 7n;
    }
    return s + n.toString(16).padStart(2, '0');
  };
  const zz = (n: bigint) => (n >= 0n ? n << 1n : (-n << 1n) - 1n);
  assert.equal(
    hex(w),
    [
      `16${varint(zz(2n ** 31n))}`,
      `16${varint(zz(-(2n ** 40n)))}`,
      `16${varint(zz(2n ** 53n - 1n))}`,
      `16${varint(zz(-(2n ** 53n - 1n)))}`,
    ].join(''),
  );
  assert.equal(varint(zz(2n ** 31n)), '8080808010');
  assert.throws(() => w.i64(5, 2 ** 53), RangeError);
});

test('nested structs restore the outer field id; lists use the short and the long size form', () => {
  const w = new CompactWriter();
  w.struct(5);
  w.i32(1, 7);
  w.end();
  w.i32(6, 1);
  w.list(7, CT.I32, 2);
  w.listI32(1);
  w.listI32(-1);
  w.list(8, CT.BINARY, 15);
  for (let i = 0; i < 15; i++) w.listString('a');
  w.list(9, CT.STRUCT, 1);
  w.listStruct();
  w.i32(20, 0);
  w.end();
  w.end();
  assert.equal(
    hex(w),
    ['5c', '150e', '00', '1502', '1925', '0201', '19f8', '0f', '0161'.repeat(15), '191c', '052800', '00', '00'].join(
      '',
    ),
  );
});

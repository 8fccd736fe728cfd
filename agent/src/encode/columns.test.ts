import assert from 'node:assert/strict';
import { test } from 'node:test';
import { columnValues } from '../../../test/support/column-data.ts';
import type { Utf8Data } from './column-data.ts';
import { builderFor } from './columns.ts';

const values = (kind: 'double' | 'int32' | 'int64' | 'bool', input: unknown[]) => {
  const b = builderFor('c', { kind }, () => {});
  for (const v of input) b.append(v);
  return columnValues(b.finish(), { kind });
};

test('fixed-width builders keep values and nulls across growth', () => {
  const many = Array.from({ length: 300 }, (_, i) => (i % 7 === 0 ? null : i * 1.5));
  assert.deepEqual(values('double', many), many);
  assert.deepEqual(values('int32', [1, null, -2147483648, 2147483647]), [1, null, -2147483648, 2147483647]);
  assert.deepEqual(values('int64', [-(2 ** 53) + 1, null, 2 ** 53 - 1, -1, 0]), [
    -(2 ** 53) + 1,
    null,
    2 ** 53 - 1,
    -1,
    0,
  ]);
  assert.deepEqual(values('bool', [true, null, false, true]), [true, null, false, true]);
});

test('strings are cut to their bound and each cut is reported', () => {
  const cut: string[] = [];
  const b = builderFor('user_agent', { kind: 'string', maxLength: 4 }, (c) => cut.push(c));
  for (const v of ['abcdef', 'ab', null, 'ééééé']) b.append(v);
  assert.deepEqual(columnValues(b.finish(), { kind: 'string' }), ['abcd', 'ab', null, 'éééé']);
  assert.deepEqual(cut, ['user_agent', 'user_agent']);
});

test('the validity bitmap appears with the first null, also after rows are rolled back', () => {
  const b = builderFor('c', { kind: 'string' }, () => {});
  const validity = () => (b.finish() as Utf8Data).validity;
  const expected: (string | null)[] = [];
  const add = (v: string | null) => {
    b.append(v);
    expected.push(v);
  };
  for (let i = 0; i < 21; i++) add(`v${i}`);
  assert.equal(validity(), undefined, 'no bitmap while every entry is valid');
  add(null);
  add('w');
  // A row that failed part-way: its null goes, and the column is all valid again.
  b.truncate(21);
  expected.length = 21;
  assert.equal(validity(), undefined);
  for (let i = 0; i < 12; i++) add(i % 5 === 4 ? null : `x${i}`);
  const data = b.finish();
  assert.ok(validity());
  assert.deepEqual(columnValues(data, { kind: 'string' }), expected);
});

test('finish hands over copies: appending afterwards leaves a finished column as it was', () => {
  const type = { kind: 'list', element: { kind: 'string' } } as const;
  const b = builderFor('c', type, () => {});
  b.append(['a', 'b']);
  const first = b.finish();
  for (let i = 0; i < 100; i++) b.append([`x${i}`]);
  assert.deepEqual(columnValues(first, type), [['a', 'b']]);
  assert.equal(columnValues(b.finish(), type).length, 101);
});

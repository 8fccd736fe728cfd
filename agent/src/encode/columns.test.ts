import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeVector } from 'apache-arrow';
import { builderFor } from './columns.ts';

const values = (kind: 'double' | 'int32' | 'int64' | 'bool', input: unknown[]) => {
  const b = builderFor('c', { kind }, () => {});
  for (const v of input) b.append(v);
  return [...makeVector(b.finish())].map((v) => (typeof v === 'bigint' ? Number(v) : v));
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
  assert.deepEqual([...makeVector(b.finish())], ['abcd', 'ab', null, 'éééé']);
  assert.deepEqual(cut, ['user_agent', 'user_agent']);
});

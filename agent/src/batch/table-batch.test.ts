import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rowsOf as decode } from '../../../test/support/column-data.ts';
import { flow, T0 } from '../../../test/support/records.ts';
import { TABLES } from '../contract/generated.ts';
import { validateRow } from '../contract/validate.ts';
import { TableBatch } from './table-batch.ts';

const rowsOf = (batch: TableBatch) => {
  const { schema, columns } = batch.toColumns();
  return decode(schema, columns).map((r) => JSON.stringify(r));
};

const request = (i: number, extra: Record<string, unknown> = {}) => ({
  record_id: `req-${i}`,
  event_time: T0 + i,
  observed_time: T0 + i,
  node: 'node-a',
  source: 'test',
  schema_version: 1,
  proxy: 'envoy',
  role: 'sidecar_inbound',
  forwarded_for: ['203.0.113.7'],
  upstream_attempts: [{ address: '10.244.2.21', port: 8080, status: 200, duration_us: 1000 }],
  ...extra,
});

test('an invalid row is refused as validateRow refuses it, and leaves the batch as it was', () => {
  const invalid: [keyof typeof TABLES, Record<string, unknown>][] = [
    ['flows', { ...flow(1), verdict: undefined }],
    ['flows', { ...flow(1), src_port: 70000.5 }],
    ['flows', { ...flow(1), dst_port: 2 ** 31 }],
    ['flows', { ...flow(1), l4_protocol: 7 }],
    ['http_requests', request(1, { duration_us: 2 ** 60 })],
    ['http_requests', request(1, { forwarded_for: ['10.0.0.1', null] })],
    ['http_requests', request(1, { forwarded_for: '10.0.0.1' })],
    // Fails deep inside a list of structs, after most columns were appended.
    ['http_requests', request(1, { upstream_attempts: [{ address: 'a', port: 1 }, { port: 2 }] })],
    ['http_requests', request(1, { upstream_attempts: [{ address: 'a', port: 'x' }] })],
    ['http_requests', request(1, { bytes_sent: 12.5, user_agent: 'x'.repeat(300) })],
  ];
  for (const [table, bad] of invalid) {
    assert.notEqual(validateRow(TABLES[table], bad), undefined, JSON.stringify(bad));
    const good: Record<string, unknown>[] =
      table === 'flows' ? [{ ...flow(0) }, { ...flow(2) }] : [request(0), request(2)];
    const expected = new TableBatch(TABLES[table], 0, 0, () => {});
    for (const r of good) assert.equal(expected.append(r, r.event_time as number), undefined);
    const batch = new TableBatch(TABLES[table], 0, 0, () => {});
    assert.equal(batch.append(good[0]!, good[0]!.event_time as number), undefined);
    const bytes = batch.bytes;
    const problem = batch.append(bad, T0);
    assert.ok(problem, `${table}: ${JSON.stringify(bad)}`);
    // The same column is named (list indexes aside).
    const column = (message: string) => message.split(':')[0]!.replace(/\[\d+\]/g, '');
    assert.equal(column(problem), column(validateRow(TABLES[table], bad)!));
    assert.equal(batch.rows, 1);
    assert.equal(batch.bytes, bytes);
    assert.equal(batch.append(good[1]!, good[1]!.event_time as number), undefined);
    assert.deepEqual(rowsOf(batch), rowsOf(expected), `${table}: ${JSON.stringify(bad)}`);
  }
});

test('valid rows, nulls and repeated values read back as appended', () => {
  const rows = [
    request(0, { user_agent: 'curl/8', path: '/a' }),
    request(1, { user_agent: 'curl/8', path: null }),
    request(2, { user_agent: 'curl/8', path: '/ä' }),
    request(3, { user_agent: 'wget', path: '/ä', forwarded_for: undefined, upstream_attempts: [] }),
  ];
  const batch = new TableBatch(TABLES.http_requests, 0, 0, () => {});
  for (const r of rows) assert.equal(batch.append(r, r.event_time), undefined);
  const { schema, columns } = batch.toColumns();
  const got = decode(schema, columns);
  assert.deepEqual(
    got.map((r) => [
      r.user_agent,
      r.path,
      (r.forwarded_for as unknown[]).length,
      (r.upstream_attempts as unknown[]).length,
    ]),
    [
      ['curl/8', '/a', 1, 1],
      ['curl/8', null, 1, 1],
      ['curl/8', '/ä', 1, 1],
      ['wget', '/ä', 0, 0],
    ],
  );
});

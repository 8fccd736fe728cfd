// The JSON-lines source on a real file: rows from what the reader maps, every
// other line a counted drop (cut, not JSON, refused by the reader) or left to
// the reader to count, record ids stable across a re-read, and the event-time lag.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { flow } from '../../../../test/support/records.ts';
import { TestSourceContext } from '../../../../test/support/source-context.ts';
import { tempDir } from '../../../../test/support/tmp.ts';
import type { FlowRow } from '../../contract/generated.ts';
import { JsonLinesSource } from './json-lines-source.ts';

const TAIL = {
  start_at: 'beginning',
  poll_interval: 10,
  discover_interval: 30,
  rotate_wait: 50,
  max_open_files: 8,
  max_line_size: 256,
  read_buffer_size: 4096,
  read_budget: 65536,
  fingerprint_size: 64,
} as const;

function source(dir: string, counted: { self: number; rows: number[] }) {
  return new JsonLinesSource<'flows'>({
    ...TAIL,
    name: 'json-test',
    include: [join(dir, '*.log')],
    exclude: [],
    table: 'flows',
    dropMessage: 'test line dropped',
    reader: () => ({
      read(value, recordId) {
        const v = value as { kind?: string; i?: number };
        if (v.kind === 'flow') return { row: { ...flow(v.i ?? 0), record_id: recordId() } };
        if (v.kind === 'counted') {
          counted.self++;
          return undefined;
        }
        return { drop: 'not_a_flow' };
      },
      afterRead: (rows) => counted.rows.push(rows),
    }),
  });
}

test('JSON-lines source: rows, counted drops by reason, stable record ids, event-time lag', async () => {
  const dir = tempDir();
  const lines = [
    JSON.stringify({ kind: 'flow', i: 1 }),
    '',
    '{"kind":"flow","i":',
    JSON.stringify({ kind: 'counted' }),
    JSON.stringify({ kind: 'other' }),
    JSON.stringify({ kind: 'flow', i: 2, pad: 'x'.repeat(400) }),
    JSON.stringify({ kind: 'flow', i: 3 }),
  ];
  writeFileSync(join(dir, 'events.log'), `${lines.join('\n')}\n`);

  const logs: { msg: string; reason?: string }[] = [];
  const logger = pino({ level: 'warn' }, { write: (s: string) => logs.push(JSON.parse(s)) });
  const counted = { self: 0, rows: [] as number[] };
  const ctx = new TestSourceContext({ logger });
  const src = source(dir, counted);
  await src.run(ctx, 'drain');

  const rows = ctx.records.map((r) => r.row as FlowRow);
  assert.deepEqual(
    rows.map((r) => r.src_port),
    [flow(1).src_port, flow(3).src_port],
  );
  assert.ok(ctx.records.every((r) => r.table === 'flows'));
  assert.deepEqual(
    ctx.metrics.drops().map(({ table, source: s, reason, count }) => [table, s, reason, count]),
    [
      ['flows', 'json-test', 'invalid_json', 1],
      ['flows', 'json-test', 'line_too_long', 1],
      ['flows', 'json-test', 'not_a_flow', 1],
    ],
  );
  assert.equal(counted.self, 1, 'the reader counted its own document');
  assert.equal(
    counted.rows.reduce((a, b) => a + b, 0),
    2,
  );
  assert.deepEqual(logs.map((l) => [l.msg, l.reason]).sort(), [
    ['test line dropped', 'invalid_json'],
    ['test line dropped', 'line_too_long'],
    ['test line dropped', 'not_a_flow'],
  ]);
  assert.equal(src.lag().newestEventUs, flow(3).event_time);

  // Read again from scratch: the same positions give the same ids.
  const again = new TestSourceContext();
  await source(dir, { self: 0, rows: [] }).run(again, 'drain');
  const ids = rows.map((r) => r.record_id);
  assert.equal(new Set(ids).size, 2);
  assert.deepEqual(
    again.records.map((r) => (r.row as FlowRow).record_id),
    ids,
  );
});

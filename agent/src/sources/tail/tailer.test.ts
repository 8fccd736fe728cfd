// The tailer on real files in a temporary directory: appends, rotation by
// rename, copytruncate, deletion while open, inode reuse, restart from the
// acknowledged position, fairness and bounded descriptors. The source
// context is the in-memory one from test/support, which models the spool's
// rule that a checkpoint is durable only once committed.
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { until } from '../../../../test/support/agent.ts';
import { TestSourceContext } from '../../../../test/support/source-context.ts';
import { tempDir } from '../../../../test/support/tmp.ts';
import type { TableRecord } from '../../pipeline/source.ts';
import { Tailer, type TailerOptions } from './tailer.ts';

interface Line {
  text: string;
  offset: number;
  ino: number;
  head: string;
  path: string;
}

function tailer(dir: string, overrides: Partial<TailerOptions<object>> = {}): Tailer<object> {
  return new Tailer<object>({
    name: 'test',
    table: 'flows',
    include: [join(dir, '*.log'), join(dir, '*.log.*')],
    exclude: ['**/*.gz'],
    format: 'raw',
    select: () => ({ meta: {} }),
    consume: (file, lines) =>
      lines.map(
        (l) =>
          ({
            table: 'flows',
            row: { text: l.text, offset: l.offset, ino: file.ino, head: file.head, path: file.path },
          }) as unknown as TableRecord,
      ),
    startAt: 'beginning',
    pollIntervalMs: 10,
    discoverIntervalMs: 30,
    rotateWaitMs: 150,
    maxOpenFiles: 64,
    maxLineBytes: 4096,
    readBufferBytes: 4096,
    readBudgetBytes: 64 * 1024,
    fingerprintBytes: 64,
    ...overrides,
  });
}

const lines = (ctx: TestSourceContext): Line[] => ctx.records.map((r) => r.row as unknown as Line);
const texts = (ctx: TestSourceContext) => lines(ctx).map((l) => l.text);
const numbered = (prefix: string, from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `${prefix}-${String(from + i).padStart(5, '0')}\n`).join('');

/** Runs a tailer in follow mode until `stop()`. */
function follow(t: Tailer<object>, ctx: TestSourceContext) {
  const done = t.run(ctx, 'follow');
  return {
    async stop() {
      ctx.abort.abort();
      await done;
    },
  };
}

test('follows appends; an unfinished line waits for its newline', async () => {
  const dir = tempDir();
  const file = join(dir, 'app.log');
  writeFileSync(file, 'one\ntwo\nthr');
  const ctx = new TestSourceContext();
  const run = follow(tailer(dir), ctx);
  await until(() => texts(ctx).length === 2, 'first two lines');
  appendFileSync(file, 'ee\nfour\n');
  await until(() => texts(ctx).length === 4, 'the completed line and the next');
  await run.stop();
  assert.deepEqual(texts(ctx), ['one', 'two', 'three', 'four']);
  assert.deepEqual(
    lines(ctx).map((l) => l.offset),
    [0, 4, 8, 14],
  );
});

test('start_at end skips what was there at the first start only', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'old.log'), 'before-1\nbefore-2\nhalf');
  const ctx = new TestSourceContext();
  const run = follow(tailer(dir, { startAt: 'end' }), ctx);
  await until(() => ctx.emissions.length > 0, 'initial positions');
  appendFileSync(join(dir, 'old.log'), '-line\nafter\n');
  writeFileSync(join(dir, 'new.log'), 'new-1\n');
  await until(() => texts(ctx).length === 3, 'lines written after the start');
  await run.stop();
  assert.deepEqual(texts(ctx).sort(), ['after', 'half-line', 'new-1']);

  // After a restart, a file the agent never saw is new: read from its start.
  writeFileSync(join(dir, 'while-down.log'), 'w-1\nw-2\n');
  appendFileSync(join(dir, 'old.log'), 'after-restart\n');
  const again = new TestSourceContext({ committed: ctx.commit() });
  await tailer(dir, { startAt: 'end' }).run(again, 'drain');
  assert.deepEqual(texts(again).sort(), ['after-restart', 'w-1', 'w-2']);
});

test('rename rotation: the rotated file is finished, late writes included, before its successor', async () => {
  const dir = tempDir();
  const live = join(dir, '0.log');
  writeFileSync(live, numbered('a', 0, 100));
  const ctx = new TestSourceContext();
  const run = follow(tailer(dir), ctx);
  await until(() => texts(ctx).length === 100, 'first file');
  // The writer keeps its descriptor for a moment after the rename, as a runtime does until it reopens.
  const rotated = join(dir, '0.log.20261125-070000');
  renameSync(live, rotated);
  writeFileSync(live, numbered('b', 0, 50));
  appendFileSync(rotated, numbered('a', 100, 120));
  await until(() => texts(ctx).length === 170, 'late writes and the successor');
  renameSync(live, join(dir, '0.log.20261125-070100'));
  writeFileSync(live, numbered('c', 0, 10));
  await until(() => texts(ctx).length === 180, 'second rotation');
  // The kubelet compresses older rotations: the plain file disappears.
  rmSync(rotated);
  await until(() => ctx.metrics.tailFilesTracked.get !== undefined && trackedCount(ctx) === 2, 'forgotten');
  await run.stop();
  const all = texts(ctx);
  assert.deepEqual(
    all.filter((t) => t.startsWith('a')),
    numbered('a', 0, 120).trimEnd().split('\n'),
  );
  assert.equal(new Set(all).size, 180, 'no line read twice');
  // Lines of one stream come in writing order: a's late writes before b, b before c.
  assert.ok(all.indexOf('a-00119') < all.indexOf('b-00000'));
  assert.ok(all.indexOf('b-00049') < all.indexOf('c-00000'));
  const state = ctx.commit()['tail:test'] as { files: Record<string, unknown> };
  assert.equal(Object.keys(state.files).length, 2, 'the deleted file has no checkpoint left');
});

function trackedCount(ctx: TestSourceContext): number {
  const m = (ctx.metrics.tailFilesTracked as unknown as { hashMap: Record<string, { value: number }> }).hashMap;
  return Object.values(m)[0]?.value ?? -1;
}

test('copytruncate: the truncation is seen and the new content read from the start, under a new identity', async () => {
  const dir = tempDir();
  const file = join(dir, 'app.log');
  writeFileSync(file, numbered('x', 0, 20));
  const ctx = new TestSourceContext();
  const run = follow(tailer(dir), ctx);
  await until(() => texts(ctx).length === 20, 'before truncation');
  // Truncated and rewritten between two polls, even past the old size: the head tells.
  truncateSync(file, 0);
  writeFileSync(file, numbered('y', 0, 40));
  await until(() => texts(ctx).length === 60, 'after truncation');
  await run.stop();
  assert.deepEqual(texts(ctx).slice(20), numbered('y', 0, 40).trimEnd().split('\n'));
  const heads = new Set(lines(ctx).map((l) => l.head));
  assert.equal(heads.size, 2, 'record identity changes with the content');
});

/** Stops the tailer at its next capacity wait, so files can be changed between two of its looks. */
async function paused(ctx: TestSourceContext, change: () => void): Promise<void> {
  ctx.pause();
  await until(() => ctx.blocked > 0, 'tailer waiting');
  change();
  ctx.resume();
}

const lineSet = (ctx: TestSourceContext) => {
  const all = texts(ctx);
  assert.equal(new Set(all).size, all.length, `no line read twice: ${all.length} lines`);
  return new Set(all);
};

test('copytruncate with a copy beside the original: unread lines are read from the copy, none twice', async () => {
  const dir = tempDir();
  const file = join(dir, 'app.log');
  writeFileSync(file, numbered('x', 0, 100));
  const ctx = new TestSourceContext();
  const run = follow(tailer(dir), ctx);
  await until(() => texts(ctx).length === 100, 'first lines');
  // Lines the tailer has not read yet, then logrotate: copy, truncate, and the writer goes on.
  await paused(ctx, () => {
    appendFileSync(file, numbered('x', 100, 110));
    copyFileSync(file, join(dir, 'app.log.1'));
    truncateSync(file, 0);
    writeFileSync(file, numbered('y', 0, 20));
  });
  await until(() => texts(ctx).length === 130, 'the unread lines from the copy and the new content');
  assert.equal(lineSet(ctx).size, 130);
  // The copy's lines carry the original's identity: a re-read would give the same record ids.
  const fromCopy = lines(ctx).filter((l) => l.text === 'x-00105')[0]!;
  const original = lines(ctx).filter((l) => l.text === 'x-00000')[0]!;
  assert.deepEqual([fromCopy.ino, fromCopy.head], [original.ino, original.head]);
  await run.stop();
});

test('copytruncate with the copy seen before the truncation: the copy waits behind its original', async () => {
  const dir = tempDir();
  const file = join(dir, 'app.log');
  writeFileSync(file, numbered('x', 0, 100));
  const ctx = new TestSourceContext();
  const run = follow(tailer(dir), ctx);
  await until(() => texts(ctx).length === 100, 'first lines');
  await paused(ctx, () => {
    appendFileSync(file, numbered('x', 100, 110));
    copyFileSync(file, join(dir, 'app.log.1'));
  });
  await until(() => trackedCount(ctx) === 2 && texts(ctx).length === 110, 'the copy found, the original read');
  await paused(ctx, () => {
    truncateSync(file, 0);
    writeFileSync(file, numbered('y', 0, 20));
  });
  await until(() => texts(ctx).length === 130, 'the new content');
  await run.stop();
  assert.equal(lineSet(ctx).size, 130);
});

test('copytruncate while the agent was down: the copy continues from the original checkpoint', async () => {
  const dir = tempDir();
  const file = join(dir, 'app.log');
  writeFileSync(file, numbered('x', 0, 100));
  const first = new TestSourceContext();
  await tailer(dir).run(first, 'drain');
  appendFileSync(file, numbered('x', 100, 110));
  copyFileSync(file, join(dir, 'app.log.1'));
  truncateSync(file, 0);
  writeFileSync(file, numbered('y', 0, 20));
  const second = new TestSourceContext({ committed: first.commit() });
  await tailer(dir).run(second, 'drain');
  assert.deepEqual(
    texts(second).sort(),
    [...numbered('x', 100, 110).trimEnd().split('\n'), ...numbered('y', 0, 20).trimEnd().split('\n')].sort(),
  );
  const a = lines(first)[0]!;
  const b = lines(second).find((l) => l.text === 'x-00100')!;
  assert.deepEqual([b.ino, b.head], [a.ino, a.head], 'the original identity');
  // And a third start reads nothing again.
  const third = new TestSourceContext({ committed: second.commit() });
  await tailer(dir).run(third, 'drain');
  assert.deepEqual(texts(third), []);
});

test('files that only share a first line are not taken for copies', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'a.log'), `HEADER\n${numbered('a', 0, 5)}`);
  writeFileSync(join(dir, 'b.log'), `HEADER\n${numbered('b', 0, 5)}`);
  const ctx = new TestSourceContext();
  await tailer(dir).run(ctx, 'drain');
  assert.equal(texts(ctx).length, 12);
});

test('deletion while open: what was written is still read, then the file is let go', async () => {
  const dir = tempDir();
  const file = join(dir, 'app.log');
  writeFileSync(file, numbered('d', 0, 10));
  const ctx = new TestSourceContext();
  const big = numbered('d', 10, 3000);
  // A small read budget so the deletion happens while most of the file is unread.
  const run = follow(tailer(dir, { readBudgetBytes: 4096, readBufferBytes: 4096 }), ctx);
  await until(() => texts(ctx).length >= 10, 'first lines');
  appendFileSync(file, big);
  rmSync(file);
  await until(() => texts(ctx).length === 3000, 'everything written before the deletion');
  await until(() => trackedCount(ctx) === 0, 'forgotten after rotate_wait');
  await run.stop();
  assert.equal(new Set(texts(ctx)).size, 3000);
});

test('inode reuse: a checkpoint whose first line differs is not applied', async () => {
  const dir = tempDir();
  const file = join(dir, 'app.log');
  writeFileSync(file, numbered('new', 0, 5));
  const { dev, ino } = statSync(file);
  // A checkpoint left by an earlier file with the same device and inode.
  const committed = {
    'tail:test': { v: 1, started: true, files: { [`${dev}:${ino}`]: { h: '0123456789abcdef', l: 10, o: 30 } } },
  };
  const ctx = new TestSourceContext({ committed });
  await tailer(dir).run(ctx, 'drain');
  assert.deepEqual(texts(ctx), numbered('new', 0, 5).trimEnd().split('\n'));
});

test('restart: resumes at the last acknowledged position, so no line is lost or read twice', async () => {
  const dir = tempDir();
  const file = join(dir, 'app.log');
  writeFileSync(file, numbered('r', 0, 5000));
  const first = new TestSourceContext();
  first.autoAck = false;
  await tailer(dir, { readBudgetBytes: 8192 }).run(first, 'drain');
  assert.ok(first.emissions.length > 5, 'several emissions');
  // Acknowledge the first half out of order, commit, then "crash".
  const half = Math.floor(first.emissions.length / 2);
  first.ack(half, 'newest-first');
  const durable = first.commit();
  first.ack();
  appendFileSync(file, numbered('r', 5000, 6000));
  const second = new TestSourceContext({ committed: durable });
  await tailer(dir, { readBudgetBytes: 8192 }).run(second, 'drain');
  const acked = first.emissions.slice(0, half).flatMap((e) => e.records.map((r) => r.row as unknown as Line));
  const all = [...acked, ...lines(second)];
  const keys = all.map((l) => `${l.ino}:${l.head}:${l.offset}`);
  assert.equal(new Set(keys).size, 6000, 'every line exactly once across the restart');
  assert.equal(keys.length, 6000);
  assert.deepEqual(
    all.map((l) => l.text),
    numbered('r', 0, 6000).trimEnd().split('\n'),
  );
});

test('fairness: a small file is served while a big one is being read', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'big.log'), numbered('big', 0, 20_000));
  writeFileSync(join(dir, 'small.log'), numbered('small', 0, 3));
  const ctx = new TestSourceContext();
  await tailer(dir, { readBudgetBytes: 8192, readBufferBytes: 4096 }).run(ctx, 'drain');
  const all = texts(ctx);
  assert.equal(all.length, 20_003);
  assert.ok(all.indexOf('small-00002') < all.indexOf('big-01000'), 'the small file did not wait for the big one');
});

test('bounded descriptors: never more open files than allowed, and every file is read', async () => {
  const dir = tempDir();
  for (let i = 0; i < 12; i++) writeFileSync(join(dir, `f${i}.log`), numbered(`f${i}`, 0, 50));
  const ctx = new TestSourceContext();
  let maxOpen = 0;
  const t = tailer(dir, { maxOpenFiles: 3 });
  const sample = setInterval(() => {
    const m = (ctx.metrics.tailFilesOpen as unknown as { hashMap: Record<string, { value: number }> }).hashMap;
    maxOpen = Math.max(maxOpen, Object.values(m)[0]?.value ?? 0);
  }, 1);
  const run = follow(t, ctx);
  await until(() => texts(ctx).length === 600, 'all files');
  for (let i = 0; i < 12; i++) appendFileSync(join(dir, `f${i}.log`), numbered(`f${i}`, 50, 60));
  await until(() => texts(ctx).length === 720, 'appends to files that were closed while idle');
  await run.stop();
  clearInterval(sample);
  assert.ok(maxOpen <= 3, `at most 3 open, saw ${maxOpen}`);
  assert.equal(new Set(texts(ctx)).size, 720);
});

test('lag: bytes written and not yet read', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'a.log'), numbered('l', 0, 100));
  const ctx = new TestSourceContext();
  const t = tailer(dir, { startAt: 'end' });
  const run = follow(t, ctx);
  await until(() => ctx.emissions.length > 0, 'started');
  assert.equal(t.lag().tailLagBytes, 0);
  await run.stop();
  appendFileSync(join(dir, 'a.log'), 'more\n');
  const t2 = tailer(dir);
  const ctx2 = new TestSourceContext({ committed: ctx.commit() });
  ctx2.abort.abort(); // discover only
  await t2.run(ctx2, 'follow');
  assert.equal(t2.lag().tailLagBytes, 5);
});

// Spool recovery rules, made deterministic by arranging the directory the way
// a crash at each point would leave it.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Spool } from '../agent/src/spool/spool.ts';
import { formatSeq } from '../agent/src/store/store.ts';
import { tempDir } from './support/tmp.ts';

const HOUR = 1_795_590_000_000_000;

test('a file renamed into place but never committed is discarded and its number reused', async () => {
  const dir = tempDir();
  const spool = await Spool.open(dir, 1 << 20);
  spool.setCheckpoint('src', 100);
  await spool.write('flows', HOUR, new Uint8Array([1, 2, 3]));
  // The crash: seq 2 reached ready/ but the state (and the checkpoint 200) was never saved.
  writeFileSync(join(dir, 'ready', `flows.${HOUR}.${spool.epoch}-${formatSeq(2)}.parquet`), 'x');
  writeFileSync(join(dir, 'ready', '.tmp-flows.partial'), 'half a file');

  const reopened = await Spool.open(dir, 1 << 20);
  assert.equal(reopened.discardedUncommitted, 1);
  assert.deepEqual(
    reopened.pending().map((f) => f.seq),
    [1],
  );
  assert.equal(reopened.checkpoint('src'), 100, 'the source re-reads what the discarded file held');
  assert.deepEqual(
    readdirSync(join(dir, 'ready')).filter((n) => n.startsWith('.tmp-')),
    [],
  );
  const again = await reopened.write('flows', HOUR, new Uint8Array([4]));
  assert.equal(again.seq, 2);
});

test('committed files survive a restart and are handed out oldest first; removing frees space', async () => {
  const dir = tempDir();
  const spool = await Spool.open(dir, 10);
  const a = await spool.write('flows', HOUR, new Uint8Array(6));
  await spool.write('spans', HOUR, new Uint8Array(6));
  assert.equal(spool.hasSpace, false);
  let woke = false;
  const waiting = spool.waitForSpace().then(() => {
    woke = true;
  });
  const reopened = await Spool.open(dir, 10);
  assert.deepEqual(
    reopened.pending().map((f) => [f.table, f.seq]),
    [
      ['flows', 1],
      ['spans', 1],
    ],
  );
  await spool.remove(a);
  await waiting;
  assert.equal(woke, true);
  assert.equal(existsSync(a.path), false);
});

test('an unusable spool directory is reported with its path', async () => {
  const dir = tempDir();
  // A path below a regular file cannot be created, even by root.
  writeFileSync(join(dir, 'not-a-dir'), '');
  await assert.rejects(Spool.open(join(dir, 'not-a-dir', 'spool'), 1 << 20), /ENOTDIR.*not-a-dir/);
});

test('a corrupt state file is an error, not a silent reset of sequence numbers', async () => {
  const dir = tempDir();
  await Spool.open(dir, 1 << 20);
  writeFileSync(join(dir, 'spool-state.json'), '{not json');
  await assert.rejects(Spool.open(dir, 1 << 20), /spool state .* is unreadable/);
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tableFromIPC } from 'apache-arrow';
import * as pw from 'parquet-wasm';
import { flow } from '../../../test/support/records.ts';
import { tempDir } from '../../../test/support/tmp.ts';
import { ParquetEncoder } from '../encode/parquet-encoder.ts';
import { silentLogger } from '../ops/logger.ts';
import { AgentMetrics } from '../ops/metrics.ts';
import { Spool } from '../spool/spool.ts';
import { type BatchEncoder, Pipeline } from './pipeline.ts';
import type { TableRecord } from './source.ts';

const recordIds = (path: string) =>
  tableFromIPC(pw.readParquet(readFileSync(path)).intoIPCStream())
    .getChild('record_id')!
    .toArray() as string[];

test('with several encodes in flight, files still commit, and emissions acknowledge, in queue order', {
  timeout: 60_000,
}, async () => {
  const dir = tempDir();
  const spool = await Spool.open(join(dir, 'spool'), 1 << 30);
  const pool = new ParquetEncoder({ compression: 'zstd', rowGroupRows: 1000, createdBy: 'test', workers: 2 });
  // The first batch's encode finishes only after the second's: a slow file must not be overtaken.
  let inFlight = 0;
  let maxInFlight = 0;
  let releaseFirst!: () => void;
  const firstHeld = new Promise<void>((resolve) => {
    releaseFirst = resolve;
  });
  let calls = 0;
  const encoder: BatchEncoder = {
    workers: pool.workers,
    async encode(batch) {
      const call = ++calls;
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      const bytes = await pool.encode(batch);
      if (call === 1) await firstHeld;
      if (call === 2) releaseFirst();
      inFlight--;
      return bytes;
    },
  };
  const pipeline = new Pipeline(
    { batch: { maxRows: 100, maxBytes: 1 << 26, maxAgeMs: 30_000, maxOpen: 64 }, bufferMaxBytes: 1 << 28 },
    spool,
    encoder,
    new AgentMetrics({ defaultMetrics: false }),
    silentLogger,
  );
  const acks: [number, number][] = [];
  for (let e = 0; e < 4; e++) {
    const records: TableRecord[] = Array.from({ length: 100 }, (_, k) => ({
      table: 'flows',
      row: flow(e * 100 + k),
    }));
    pipeline.accept('src', records, () => acks.push([e, spool.fileCount]));
  }
  await pipeline.flushAll();
  await pool.close();
  assert.equal(maxInFlight, 2, 'two encodes ran at once');
  assert.deepEqual(acks, [
    [0, 0],
    [1, 1],
    [2, 2],
    [3, 3],
  ]);
  const files = spool.pending();
  assert.deepEqual(
    files.map((f) => f.seq),
    [1, 2, 3, 4],
  );
  files.forEach((f, i) => {
    const ids = recordIds(f.path);
    assert.equal(ids.length, 100);
    assert.equal(ids[0], `flow-${i * 100}`);
  });
});

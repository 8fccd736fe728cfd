// The pipeline core on real parts: a real spool directory, the real Parquet
// worker, a real local store. No wall-clock assertions: time is driven by
// tick() or awaited by condition.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Agent } from '../agent/src/agent.ts';
import { US_PER_HOUR } from '../agent/src/contract/time.ts';
import { ParquetEncoder } from '../agent/src/encode/parquet-encoder.ts';
import { silentLogger } from '../agent/src/ops/logger.ts';
import { AgentMetrics } from '../agent/src/ops/metrics.ts';
import { Pipeline } from '../agent/src/pipeline/pipeline.ts';
import type { Source, SourceContext, TableRecord } from '../agent/src/pipeline/source.ts';
import { Spool } from '../agent/src/spool/spool.ts';
import { readLanded, testConfig, until } from './support/agent.ts';
import { GatedStore } from './support/gated-store.ts';
import { flow, flowLines, T0 } from './support/records.ts';
import { tempDir } from './support/tmp.ts';

async function core(
  dir: string,
  limits: Partial<{ maxRows: number; maxBytes: number; maxAgeMs: number; maxOpen: number }> = {},
) {
  const spool = await Spool.open(join(dir, 'spool'), 1 << 30);
  const encoder = new ParquetEncoder({
    compression: 'zstd',
    rowGroupRows: 10_000,
    createdBy: 'hoptrace version 0.1.0',
  });
  const metrics = new AgentMetrics({ defaultMetrics: false });
  const pipeline = new Pipeline(
    {
      batch: { maxRows: 1000, maxBytes: 1 << 26, maxAgeMs: 30_000, maxOpen: 64, ...limits },
      bufferMaxBytes: 1 << 28,
    },
    spool,
    encoder,
    metrics,
    silentLogger,
  );
  return { spool, encoder, metrics, pipeline };
}

const flows = (from: number, n: number, at = (i: number) => T0 + i): TableRecord[] =>
  Array.from({ length: n }, (_, k) => ({ table: 'flows' as const, row: flow(from + k, at(from + k)) }));

test('batches roll at max_rows between emissions; each emission is acknowledged once all its rows are committed', async () => {
  const dir = tempDir();
  const { spool, encoder, pipeline } = await core(dir, { maxRows: 100 });
  const acked: number[] = [];
  const filesAtAck: number[] = [];
  for (let e = 0; e < 5; e++)
    pipeline.accept('src', flows(e * 60, 60), () => {
      acked.push(e);
      filesAtAck.push(spool.fileCount);
      spool.setCheckpoint('src:pos', (e + 1) * 60);
    });
  await pipeline.idle();
  // 60 + 60 rows reach 100 at the end of the second emission: files hold whole emissions.
  assert.deepEqual(
    spool.pending().map((f) => f.seq),
    [1, 2],
  );
  assert.deepEqual(acked, [0, 1, 2, 3], 'the fifth emission is still in memory');
  assert.deepEqual(filesAtAck, [0, 0, 1, 1], 'acknowledged inside the commit of the file holding them');
  await pipeline.flushAll();
  assert.deepEqual(acked, [0, 1, 2, 3, 4]);
  assert.deepEqual(
    pipeline.progress().map((p) => [p.table, p.recordsSpooled, p.filesSpooled]),
    [['flows', 300, 3]],
  );
  await encoder.close();
  // The checkpoint was committed with the file: a new process sees it.
  const reopened = await Spool.open(join(dir, 'spool'), 1 << 30);
  assert.equal(reopened.checkpoint('src:pos'), 300);
  assert.equal(reopened.lastSeq('flows'), 3);
  assert.equal(reopened.epoch, spool.epoch);
});

test('rows of different event hours go to different files; open batches are bounded', async () => {
  const dir = tempDir();
  const { spool, encoder, pipeline } = await core(dir, { maxOpen: 2 });
  // Five hours interleaved: only two batches may stay open at once.
  pipeline.accept(
    'src',
    flows(0, 50, (i) => T0 + (i % 5) * US_PER_HOUR + i),
  );
  await pipeline.idle();
  assert.ok(spool.fileCount >= 3, 'older batches were rolled to respect max_open');
  await pipeline.flushAll();
  const hours = new Set(spool.pending().map((f) => (f.hourStartUs - T0) / US_PER_HOUR));
  assert.deepEqual([...hours].sort(), [0, 1, 2, 3, 4]);
  await encoder.close();
});

test('a batch rolls when it reaches its age', async () => {
  const dir = tempDir();
  const { spool, encoder, pipeline } = await core(dir, { maxAgeMs: 30_000 });
  pipeline.accept('src', flows(0, 3));
  pipeline.tick(Date.now() + 1000);
  await pipeline.idle();
  assert.equal(spool.fileCount, 0, 'young batch stays open');
  pipeline.tick(Date.now() + 31_000);
  await pipeline.idle();
  assert.equal(spool.fileCount, 1);
  await encoder.close();
});

test('invalid records are dropped with a counted reason and do not hold up the acknowledgement', async () => {
  const dir = tempDir();
  const { encoder, metrics, pipeline } = await core(dir);
  const { verdict: _missing, ...noVerdict } = flow(1);
  let acked = false;
  pipeline.accept(
    'src',
    [
      { table: 'flows', row: flow(0) },
      { table: 'flows', row: noVerdict as never },
      { table: 'flows', row: { ...flow(2), src_port: 70000.5 } },
      { table: 'no_such_table' as never, row: flow(3) as never },
    ],
    () => {
      acked = true;
    },
  );
  await pipeline.flushAll();
  assert.equal(acked, true);
  assert.deepEqual(metrics.drops(), [
    { table: 'flows', source: 'src', reason: 'invalid_record', count: 2 },
    { table: 'no_such_table', source: 'src', reason: 'unknown_table', count: 1 },
  ]);
  const progress = pipeline.progress();
  assert.equal(progress[0]!.recordsSpooled, 1);
  await encoder.close();
});

/** A push source the test drives directly. */
class PushProbe implements Source {
  readonly name = 'probe';
  readonly kind = 'push';
  ctx!: SourceContext;
  async run(ctx: SourceContext): Promise<void> {
    this.ctx = ctx;
    await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
  }
}

test('a full spool pauses a file source and makes a push source drop with a counted reason; memory stays bounded', async () => {
  const dir = tempDir();
  const total = 20_000;
  writeFileSync(join(dir, 'flows.ndjson'), flowLines(total));
  const config = testConfig(dir, {
    spool: { dir: `${dir}/spool`, max_bytes: '24KiB' },
    buffer: { max_bytes: '256KiB' },
    batch: { max_rows: 500 },
    sources: [{ type: 'replay', name: 'replay', paths: [join(dir, 'flows.ndjson')] }],
  });
  const store = new GatedStore(`${dir}/landing`);
  const probe = new PushProbe();
  const agent = new Agent(config, { logger: silentLogger, store, extraSources: [probe] });
  await agent.start('drain');
  try {
    await assertBackpressure(agent, probe);
  } finally {
    store.open();
  }
  const summary = await agent.drain();
  assert.equal(summary.tables.find((t) => t.table === 'flows')?.records, total);
  const landed = await readLanded(`${dir}/landing`);
  const ids = landed.tables.flows!.record_ids;
  assert.equal(ids.length, total, 'every record landed');
  assert.equal(new Set(ids).size, total, 'and none twice');
});

async function assertBackpressure(agent: Agent, probe: PushProbe): Promise<void> {
  await until(() => !agent.status().hasCapacity && agent.status().spoolBytes >= 24 * 1024, 'the spool to fill');
  // Give the source every chance to overrun the bound, then look.
  await new Promise((r) => setTimeout(r, 200));
  const status = agent.status();
  const replay = status.sources.find((s) => s.name === 'replay')!;
  assert.ok(replay.tailLagBytes! > 0, 'the file source stopped reading: it lags instead of losing data');
  assert.ok(status.bufferedBytes <= 256 * 1024 + 64 * 1024, `buffer bounded (${status.bufferedBytes} bytes)`);
  const maxFile = 32 * 1024;
  assert.ok(
    status.spoolBytes <= 24 * 1024 + maxFile,
    `spool bounded by max_bytes plus one file (${status.spoolBytes})`,
  );

  assert.equal(probe.ctx.offer([{ table: 'flows', row: flow(999_999) }]), false);
  assert.deepEqual(
    agent.metrics.drops().filter((d) => d.source === 'probe'),
    [{ table: 'flows', source: 'probe', reason: 'spool_full', count: 1 }],
  );
}

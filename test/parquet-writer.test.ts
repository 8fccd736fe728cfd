// The native Parquet writer against an independent reader (pyarrow), over
// every contract table: random rows with nulls, empty and multi-element
// lists, nested lists of structs, maps with null values, several row groups
// and several pages per column chunk, for each codec. pyarrow must read back
// exactly the rows that went in.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { TableBatch } from '../agent/src/batch/table-batch.ts';
import { TABLE_NAMES, TABLES } from '../agent/src/contract/generated.ts';
import type { ColumnType } from '../agent/src/contract/schema.ts';
import { parseTimestampUs } from '../agent/src/contract/time.ts';
import { type EncodeOptions, ParquetEncoder } from '../agent/src/encode/parquet-encoder.ts';
import { runPython } from './support/python.ts';
import { tempDir } from './support/tmp.ts';

const READ_BACK = `
import json, sys
from datetime import datetime, timedelta, timezone
import pyarrow.parquet as pq
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

def plain(v):
    if isinstance(v, datetime):
        return (v - EPOCH) // timedelta(microseconds=1)
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v

def varint(b, p):
    v, shift = 0, 0
    while True:
        x = b[p]; p += 1
        v |= (x & 0x7f) << shift
        if x < 0x80:
            return v, p
        shift += 7

def page_header(b, p):
    # Compact-protocol PageHeader: returns (compressed_page_size, end of header).
    fields, last, stack = {}, 0, []
    while True:
        h = b[p]; p += 1
        if h == 0:
            if not stack:
                return fields[3], p
            last = stack.pop(); continue
        t, d = h & 0x0f, h >> 4
        if d:
            fid = last + d
        else:
            z, p = varint(b, p); fid = (z >> 1) ^ -(z & 1)
        last = fid
        if t in (5, 6):
            z, p = varint(b, p)
            if not stack: fields[fid] = (z >> 1) ^ -(z & 1)
        elif t in (1, 2):
            pass
        elif t == 12:
            stack.append(last); last = 0
        else:
            raise ValueError('unexpected type %d' % t)

out = {}
for path in sys.argv[1:]:
    pf = pq.ParquetFile(path)
    meta = pf.metadata
    data = open(path, 'rb').read()
    pages = []
    for g in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            col = meta.row_group(g).column(c)
            p, end, n = col.data_page_offset, col.data_page_offset + col.total_compressed_size, 0
            while p < end:
                size, p = page_header(data, p)
                p += size; n += 1
            assert p == end, (path, g, c)
            pages.append(n)
    out[path] = {
        'rows': plain(pf.read().to_pylist()),
        'row_groups': meta.num_row_groups,
        'codecs': sorted({meta.row_group(g).column(c).compression for g in range(meta.num_row_groups) for c in range(meta.num_columns)}),
        'min_pages': min(pages) if pages else 0,
        'max_pages': max(pages) if pages else 0,
    }
print(json.dumps(out))
`;

/** Deterministic PRNG (mulberry32): the same rows on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const base = parseTimestampUs('2026-11-25T07:00:00Z')!;

/** A random valid value of a column and the value a reader should return for it. */
function value(type: ColumnType, nullable: boolean, rnd: () => number): [unknown, unknown] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  if (type.kind === 'list') {
    if (rnd() < 0.2) return [undefined, []];
    const n = pick([0, 1, 2, 3, 7]);
    const items = Array.from({ length: n }, () => value(type.element, false, rnd));
    return [items.map((i) => i[0]), items.map((i) => i[1])];
  }
  if (type.kind === 'map') {
    if (rnd() < 0.2) return [undefined, []];
    const entries = Array.from(
      { length: pick([0, 1, 3]) },
      (_, k) => [`k${k}`, rnd() < 0.3 ? null : pick(['', 'v', 'wert-ü'])] as const,
    );
    return [Object.fromEntries(entries), entries.map(([k, v]) => [k, v])];
  }
  if (nullable && rnd() < 0.25) return rnd() < 0.5 ? [null, null] : [undefined, null];
  switch (type.kind) {
    case 'string': {
      const s = pick(['', 'a', 'café', '日本語', 'x'.repeat(40), `id-${Math.floor(rnd() * 1e9)}`]);
      const v = s.slice(0, type.maxLength ?? s.length);
      return [v, v];
    }
    case 'int32': {
      const v = pick([0, -1, 2147483647, -2147483648, Math.floor(rnd() * 65536)]);
      return [v, v];
    }
    case 'int64': {
      const v = pick([0, -1, 2 ** 53 - 1, -(2 ** 53 - 1), 5_000_000_123, Math.floor(rnd() * 1e6)]);
      return [v, v];
    }
    case 'double': {
      const v = pick([0, 1.5, -2.25, 1e300, 0.1 + 0.2, rnd() * 1000]);
      return [v, v];
    }
    case 'bool': {
      const v = rnd() < 0.5;
      return [v, v];
    }
    case 'timestamp': {
      const v = base + Math.floor(rnd() * 3_600_000_000);
      return [v, v];
    }
    case 'struct': {
      const fields = type.fields.map((f) => [f.name, value(f.type, f.nullable, rnd)] as const);
      return [
        Object.fromEntries(fields.map(([n, v]) => [n, v[0]])),
        Object.fromEntries(fields.map(([n, v]) => [n, v[1]])),
      ];
    }
  }
}

const ROWS = 250;
const options: Record<string, EncodeOptions> = {
  // 70-row groups of 16-row pages: 4 row groups (70, 70, 70, 40 rows).
  zstd: { compression: 'zstd', rowGroupRows: 70, pageRows: 16, createdBy: 'hoptrace test' },
  // Pages cut by size: a page ends at the first row after 300 bytes of values.
  gzip: { compression: 'gzip', rowGroupRows: 1000, pageBytes: 300, createdBy: 'hoptrace test' },
  none: { compression: 'none', rowGroupRows: 100_000, createdBy: 'hoptrace test' },
};

test('pyarrow reads back exactly the rows of every table, for every codec, across row groups and pages', {
  timeout: 120_000,
}, async () => {
  const dir = tempDir();
  const expected = new Map<string, unknown[]>();
  const paths: string[] = [];
  for (const [codec, opts] of Object.entries(options)) {
    const encoder = new ParquetEncoder({ ...opts, workers: 1 });
    for (const name of TABLE_NAMES) {
      const schema = TABLES[name];
      const rnd = prng(name.length * 7919 + codec.length);
      const batch = new TableBatch(schema, 0, 0, () => assert.fail('no value is over its bound'));
      const want: unknown[] = [];
      for (let i = 0; i < ROWS; i++) {
        const cols = schema.columns.map((c) => [c.name, value(c.type, c.nullable, rnd)] as const);
        const row = Object.fromEntries(cols.map(([n, v]) => [n, v[0]]));
        assert.equal(batch.append(row, base), undefined);
        want.push(Object.fromEntries(cols.map(([n, v]) => [n, v[1]])));
      }
      const path = join(dir, `${name}.${codec}.parquet`);
      writeFileSync(path, await encoder.encode(batch.toColumns()));
      paths.push(path);
      expected.set(path, want);
    }
    await encoder.close();
  }
  const got = await runPython<
    Record<string, { rows: unknown[]; row_groups: number; codecs: string[]; min_pages: number; max_pages: number }>
  >(READ_BACK, paths);
  for (const path of paths) {
    const codec = path.split('.').at(-2)!;
    const g = got[path]!;
    assert.deepEqual(g.rows, expected.get(path), path);
    assert.deepEqual(g.codecs, [{ zstd: 'ZSTD', gzip: 'GZIP', none: 'UNCOMPRESSED' }[codec]], path);
    if (codec === 'zstd') {
      assert.equal(g.row_groups, 4, path);
      // 70 rows: 5 pages; the last group's 40: 3.
      assert.equal(g.min_pages, 3, path);
      assert.equal(g.max_pages, 5, path);
    } else if (codec === 'gzip') {
      assert.equal(g.row_groups, 1, path);
      assert.ok(g.max_pages > 1, path);
    } else {
      assert.equal(g.row_groups, 1, path);
      assert.equal(g.max_pages, 1, path);
    }
  }
});

test('an empty batch is a valid file with no rows', async () => {
  const dir = tempDir();
  const encoder = new ParquetEncoder({ ...options.zstd!, workers: 1 });
  const path = join(dir, 'empty.parquet');
  writeFileSync(path, await encoder.encode(new TableBatch(TABLES.k8s_objects, 0, 0, () => {}).toColumns()));
  await encoder.close();
  const got = await runPython<Record<string, { rows: unknown[]; row_groups: number }>>(READ_BACK, [path]);
  assert.deepEqual(got[path]!.rows, []);
  assert.equal(got[path]!.row_groups, 0);
});

// Writes one Parquet file from finished columns: DataPage V1, PLAIN values,
// RLE/bit-packed levels, no dictionary and no statistics, row groups of
// `rowGroupRows`, pages of at most `pageRows` rows and about `pageBytes` of
// values, cut at row boundaries. Compression is node:zlib's (zstd, gzip).
import { endianness } from 'node:os';
import { constants, gzipSync, zstdCompressSync } from 'node:zlib';
import type { TableSchema } from '../../contract/schema.ts';
import type { ColumnData } from '../column-data.ts';
import { ByteSink } from './byte-sink.ts';
import { Codec, type ColumnChunkMeta, fileMetaData, pageHeader, type RowGroupMeta } from './metadata.ts';
import { plainValues, valueSize, valueSlots } from './plain.ts';
import { bitWidth, writeConstantLevels, writeLevels } from './rle.ts';
import { type Leaf, parquetSchema } from './schema.ts';
import { type PrefixCache, pathData, type Shredded, shred } from './shred.ts';

export type Compression = 'zstd' | 'gzip' | 'none';

export interface WriteOptions {
  readonly compression: Compression;
  readonly rowGroupRows: number;
  readonly createdBy: string;
  /** Uncompressed value bytes after which a page ends (at the next row); default 1 MiB. */
  readonly pageBytes?: number;
  /** Rows after which a page ends; default 50 000. */
  readonly pageRows?: number;
}

const MAGIC = new TextEncoder().encode('PAR1');
const codecs: Record<Compression, number> = { zstd: Codec.ZSTD, gzip: Codec.GZIP, none: Codec.UNCOMPRESSED };
const ZSTD_LEVEL_1 = { params: { [constants.ZSTD_c_compressionLevel]: 1 } };

if (endianness() !== 'LE') throw new Error('the Parquet writer needs a little-endian platform');

function compress(body: Uint8Array, compression: Compression): Uint8Array {
  if (compression === 'zstd') return zstdCompressSync(body, ZSTD_LEVEL_1);
  if (compression === 'gzip') return gzipSync(body);
  return body;
}

/** One Parquet file holding `columns` (in the table's column order). */
export function writeParquet(table: TableSchema, columns: readonly ColumnData[], options: WriteOptions): Uint8Array {
  if (columns.length !== table.columns.length)
    throw new Error(`${table.name}: ${columns.length} columns given, the schema has ${table.columns.length}`);
  const rows = columns[0]?.length ?? 0;
  for (const [i, c] of columns.entries())
    if (c.length !== rows)
      throw new Error(`${table.name}.${table.columns[i]!.name}: ${c.length} rows, expected ${rows}`);
  const { elements, leaves } = parquetSchema(table);
  const paths = leaves.map((leaf) => pathData(leaf, columns[leaf.column]!));
  const parts: Uint8Array[] = [MAGIC];
  let offset = MAGIC.length;
  const append = (b: Uint8Array) => {
    parts.push(b);
    offset += b.length;
  };
  const rowGroups: RowGroupMeta[] = [];
  const groupRows = Math.max(1, options.rowGroupRows);
  for (let r0 = 0; r0 < rows; r0 += groupRows) {
    const r1 = Math.min(rows, r0 + groupRows);
    const fileOffset = offset;
    const chunks: ColumnChunkMeta[] = [];
    const prefixes: PrefixCache = new Map();
    for (const [i, leaf] of leaves.entries()) {
      const path = paths[i]!;
      const sh = shred(leaf, path, r0, r1, prefixes);
      const start = offset;
      let uncompressed = 0;
      for (const [e0, e1] of pageRanges(sh, path.at(-1)!, options)) {
        const body = pageBody(leaf, sh, path.at(-1)!, e0, e1);
        const data = compress(body, options.compression);
        const header = pageHeader({
          uncompressedSize: body.length,
          compressedSize: data.length,
          numValues: e1 - e0,
        });
        append(header);
        append(data);
        uncompressed += header.length + body.length;
      }
      chunks.push({
        physicalType: leaf.physicalType,
        path: leaf.path,
        codec: codecs[options.compression],
        numValues: sh.count,
        uncompressedSize: uncompressed,
        compressedSize: offset - start,
        dataPageOffset: start,
      });
    }
    rowGroups.push({ columns: chunks, numRows: r1 - r0, fileOffset });
  }
  const footer = fileMetaData({ schema: elements, numRows: rows, rowGroups, createdBy: options.createdBy });
  append(footer);
  const tail = new Uint8Array(8);
  new DataView(tail.buffer).setUint32(0, footer.length, true);
  tail.set(MAGIC, 4);
  append(tail);
  const out = new Uint8Array(offset);
  let p = 0;
  for (const b of parts) {
    out.set(b, p);
    p += b.length;
  }
  return out;
}

/**
 * Level-entry ranges of the pages of one column chunk. A page starts at a row;
 * pages hold the same number of rows, chosen from the chunk's value bytes so
 * that a page holds about `pageBytes` of values (more when rows are skewed).
 */
function pageRanges(sh: Shredded, data: ColumnData, options: WriteOptions): [number, number][] {
  const pageBytes = options.pageBytes ?? 1024 * 1024;
  const pageRows = options.pageRows ?? 50_000;
  const { count, reps } = sh;
  let rows = count;
  if (reps) {
    rows = 0;
    for (let k = 0; k < count; k++) if (reps[k] === 0) rows++;
  }
  const bytes = valueBytes(sh, data);
  const perPage = Math.max(1, Math.min(pageRows, bytes > pageBytes ? Math.floor((rows * pageBytes) / bytes) : rows));
  if (perPage >= rows) return [[0, count]];
  const out: [number, number][] = [];
  if (!reps) {
    for (let start = 0; start < count; start += perPage) out.push([start, Math.min(count, start + perPage)]);
    return out;
  }
  let start = 0;
  let rowsIn = 0;
  for (let k = 0; k < count; k++) {
    if (reps[k] !== 0) continue;
    if (rowsIn === perPage) {
      out.push([start, k]);
      start = k;
      rowsIn = 0;
    }
    rowsIn++;
  }
  out.push([start, count]);
  return out;
}

/** Uncompressed PLAIN bytes of a chunk's values, nulls counted as values (a bound). */
function valueBytes(sh: Shredded, data: ColumnData): number {
  let a = sh.first;
  let b = sh.first + sh.count;
  if (sh.slots) {
    // Slots rise with the entries; absent entries are -1.
    let i = 0;
    while (i < sh.count && sh.slots[i]! < 0) i++;
    let j = sh.count - 1;
    while (j >= 0 && sh.slots[j]! < 0) j--;
    if (i > j) return 0;
    a = sh.slots[i]!;
    b = sh.slots[j]! + 1;
  }
  return data.kind === 'utf8' ? 4 * (b - a) + data.offsets[b]! - data.offsets[a]! : (b - a) * valueSize(data, a);
}

/** Repetition levels, definition levels, values: an uncompressed V1 data page body. */
function pageBody(leaf: Leaf, sh: Shredded, data: ColumnData, e0: number, e1: number): Uint8Array {
  const levels = new ByteSink(64);
  if (leaf.maxRep > 0) writeLevels(levels, sh.reps!, e0, e1, bitWidth(leaf.maxRep));
  if (leaf.maxDef > 0) {
    const width = bitWidth(leaf.maxDef);
    if (sh.defs) writeLevels(levels, sh.defs, e0, e1, width);
    else writeConstantLevels(levels, leaf.maxDef, e1 - e0, width);
  }
  const values = plainValues(data, valueSlots(sh, leaf.maxDef, e0, e1));
  const body = new Uint8Array(levels.length + values.length);
  body.set(levels.view(), 0);
  body.set(values, levels.length);
  return body;
}

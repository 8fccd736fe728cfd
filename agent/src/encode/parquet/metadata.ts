// parquet.thrift structures the writer emits (PageHeader, FileMetaData and
// what they contain), written with the compact protocol. Field ids are the
// format's.
import type { LogicalType, SchemaElement } from './schema.ts';
import { CompactWriter, CT } from './thrift-compact.ts';

export const Encoding = { PLAIN: 0, RLE: 3 } as const;
export const Codec = { UNCOMPRESSED: 0, GZIP: 2, ZSTD: 6 } as const;
const DATA_PAGE = 0;

export interface DataPageHeader {
  readonly uncompressedSize: number;
  readonly compressedSize: number;
  /** Level entries, nulls included. */
  readonly numValues: number;
}

export function pageHeader(h: DataPageHeader): Uint8Array {
  const w = new CompactWriter();
  w.i32(1, DATA_PAGE);
  w.i32(2, h.uncompressedSize);
  w.i32(3, h.compressedSize);
  w.struct(5);
  w.i32(1, h.numValues);
  w.i32(2, Encoding.PLAIN);
  w.i32(3, Encoding.RLE);
  w.i32(4, Encoding.RLE);
  w.end();
  w.end();
  return w.out.view().slice();
}

export interface ColumnChunkMeta {
  readonly physicalType: number;
  readonly path: readonly string[];
  readonly codec: number;
  readonly numValues: number;
  /** Page headers included, as the format counts them. */
  readonly uncompressedSize: number;
  readonly compressedSize: number;
  readonly dataPageOffset: number;
}

export interface RowGroupMeta {
  readonly columns: readonly ColumnChunkMeta[];
  readonly numRows: number;
  readonly fileOffset: number;
}

export interface FileMeta {
  readonly schema: readonly SchemaElement[];
  readonly numRows: number;
  readonly rowGroups: readonly RowGroupMeta[];
  readonly createdBy: string;
}

function logicalType(w: CompactWriter, t: LogicalType): void {
  // LogicalType is a union: one field set, its value a (possibly empty) struct.
  w.struct(10);
  switch (t) {
    case 'string':
      w.struct(1);
      w.end();
      break;
    case 'map':
      w.struct(2);
      w.end();
      break;
    case 'list':
      w.struct(3);
      w.end();
      break;
    case 'timestamp-utc-micros':
      w.struct(8);
      w.bool(1, true);
      w.struct(2); // TimeUnit union
      w.struct(2); // MICROS
      w.end();
      w.end();
      w.end();
      break;
  }
  w.end();
}

export function fileMetaData(m: FileMeta): Uint8Array {
  const w = new CompactWriter();
  w.i32(1, 1);
  w.list(2, CT.STRUCT, m.schema.length);
  for (const e of m.schema) {
    w.listStruct();
    if (e.type !== undefined) w.i32(1, e.type);
    if (e.repetition !== undefined) w.i32(3, e.repetition);
    w.string(4, e.name);
    if (e.numChildren !== undefined) w.i32(5, e.numChildren);
    if (e.convertedType !== undefined) w.i32(6, e.convertedType);
    if (e.logicalType) logicalType(w, e.logicalType);
    w.end();
  }
  w.i64(3, m.numRows);
  w.list(4, CT.STRUCT, m.rowGroups.length);
  m.rowGroups.forEach((g, ordinal) => {
    w.listStruct();
    w.list(1, CT.STRUCT, g.columns.length);
    let uncompressed = 0;
    let compressed = 0;
    for (const c of g.columns) {
      uncompressed += c.uncompressedSize;
      compressed += c.compressedSize;
      w.listStruct();
      w.i64(2, c.dataPageOffset);
      w.struct(3);
      w.i32(1, c.physicalType);
      w.list(2, CT.I32, 2);
      w.listI32(Encoding.PLAIN);
      w.listI32(Encoding.RLE);
      w.list(3, CT.BINARY, c.path.length);
      for (const p of c.path) w.listString(p);
      w.i32(4, c.codec);
      w.i64(5, c.numValues);
      w.i64(6, c.uncompressedSize);
      w.i64(7, c.compressedSize);
      w.i64(9, c.dataPageOffset);
      w.end();
      w.end();
    }
    w.i64(2, uncompressed);
    w.i64(3, g.numRows);
    w.i64(5, g.fileOffset);
    w.i64(6, compressed);
    w.i16(7, ordinal);
    w.end();
  });
  w.string(6, m.createdBy);
  w.end();
  return w.out.view().slice();
}

// Reads finished column data (agent/src/encode/column-data.ts) back as plain
// JS values, for tests of the builders: independent of the Parquet writer.

import type { ColumnType, TableSchema } from '../../agent/src/contract/schema.ts';
import type { ColumnData } from '../../agent/src/encode/column-data.ts';

const utf8 = new TextDecoder();
const bit = (bits: Uint8Array | undefined, i: number) => bits === undefined || (bits[i >> 3]! & (1 << (i & 7))) !== 0;

/** Entry i of a column as a JS value (null for null; int64 as a number; a map as an object). */
export function valueAt(data: ColumnData, type: ColumnType, i: number): unknown {
  if ('validity' in data && !bit(data.validity, i)) return null;
  switch (data.kind) {
    case 'utf8':
      return utf8.decode(data.bytes.subarray(data.offsets[i]!, data.offsets[i + 1]!));
    case 'int32':
    case 'float64':
      return data.values[i]!;
    case 'int64':
      return data.words[2 * i + 1]! * 4294967296 + (data.words[2 * i]! >>> 0);
    case 'bool':
      return bit(data.bits, i);
    case 'list': {
      if (type.kind !== 'list') throw new Error(`list data for a ${type.kind} column`);
      const out: unknown[] = [];
      for (let k = data.offsets[i]!; k < data.offsets[i + 1]!; k++) out.push(valueAt(data.child, type.element, k));
      return out;
    }
    case 'map': {
      const out: Record<string, unknown> = {};
      for (let k = data.offsets[i]!; k < data.offsets[i + 1]!; k++)
        out[valueAt(data.keys, { kind: 'string' }, k) as string] = valueAt(data.values, { kind: 'string' }, k);
      return out;
    }
    case 'struct': {
      if (type.kind !== 'struct') throw new Error(`struct data for a ${type.kind} column`);
      return Object.fromEntries(type.fields.map((f, k) => [f.name, valueAt(data.children[k]!, f.type, i)]));
    }
  }
}

export const columnValues = (data: ColumnData, type: ColumnType): unknown[] =>
  Array.from({ length: data.length }, (_, i) => valueAt(data, type, i));

/** Rows of a batch's columns as objects. */
export function rowsOf(schema: TableSchema, columns: readonly ColumnData[]): Record<string, unknown>[] {
  const n = columns[0]?.length ?? 0;
  return Array.from({ length: n }, (_, i) =>
    Object.fromEntries(schema.columns.map((c, k) => [c.name, valueAt(columns[k]!, c.type, i)])),
  );
}

// A finished column as plain typed arrays: what the column builders hand to
// the Parquet writer. Plain data, so it crosses to an encoder worker by
// structured clone or transfer, with no library object in between.

interface Base {
  /** Entries (rows for a top-level column, slots for a child). */
  readonly length: number;
}

interface Nullable extends Base {
  /** Bit i (LSB first) set when entry i is valid; absent when every entry is valid. */
  readonly validity?: Uint8Array;
}

export interface Utf8Data extends Nullable {
  readonly kind: 'utf8';
  /** length + 1 byte offsets into `bytes`; a null's range is empty. */
  readonly offsets: Int32Array;
  readonly bytes: Uint8Array;
}

export interface Int32Data extends Nullable {
  readonly kind: 'int32';
  readonly values: Int32Array;
}

export interface Float64Data extends Nullable {
  readonly kind: 'float64';
  readonly values: Float64Array;
}

/** int64 (and timestamps) as little-endian word pairs: [low, high] per entry. */
export interface Int64Data extends Nullable {
  readonly kind: 'int64';
  readonly words: Int32Array;
}

export interface BoolData extends Nullable {
  readonly kind: 'bool';
  /** Bit i (LSB first) is entry i's value. */
  readonly bits: Uint8Array;
}

/** Never null; entry i holds child entries offsets[i]..offsets[i+1]. */
export interface ListData extends Base {
  readonly kind: 'list';
  readonly offsets: Int32Array;
  readonly child: ColumnData;
}

/** Children have one entry per struct entry, null structs included. */
export interface StructData extends Nullable {
  readonly kind: 'struct';
  readonly children: readonly ColumnData[];
}

/** map<string,string>, never null; keys are never null, values may be. */
export interface MapData extends Base {
  readonly kind: 'map';
  readonly offsets: Int32Array;
  readonly keys: Utf8Data;
  readonly values: Utf8Data;
}

export type ColumnData = Utf8Data | Int32Data | Float64Data | Int64Data | BoolData | ListData | StructData | MapData;

/** Whether entry i of a column is valid. */
export const isValid = (validity: Uint8Array | undefined, i: number): boolean =>
  validity === undefined || (validity[i >> 3]! & (1 << (i & 7))) !== 0;

/** The buffers under a column, each once: a worker can take them by transfer. */
export function buffersOf(data: ColumnData, out: ArrayBuffer[] = []): ArrayBuffer[] {
  const add = (a: ArrayBufferView | undefined) => {
    if (a && !out.includes(a.buffer as ArrayBuffer)) out.push(a.buffer as ArrayBuffer);
  };
  switch (data.kind) {
    case 'utf8':
      add(data.validity);
      add(data.offsets);
      add(data.bytes);
      break;
    case 'int32':
    case 'float64':
      add(data.validity);
      add(data.values);
      break;
    case 'int64':
      add(data.validity);
      add(data.words);
      break;
    case 'bool':
      add(data.validity);
      add(data.bits);
      break;
    case 'list':
      add(data.offsets);
      buffersOf(data.child, out);
      break;
    case 'struct':
      add(data.validity);
      for (const c of data.children) buffersOf(c, out);
      break;
    case 'map':
      add(data.offsets);
      buffersOf(data.keys, out);
      buffersOf(data.values, out);
      break;
  }
  return out;
}

// Append-only Arrow column builders over growable typed arrays, built from the
// contract's schema. They avoid apache-arrow's generic builders, which are
// several times slower and allocate per value, and they enforce the
// contract's string bounds as values go in (a privacy and memory guarantee).
import {
  Bool,
  type Data,
  type DataType,
  Field,
  Float64,
  Int32,
  Int64,
  List,
  Map_,
  makeData,
  Struct,
  TimestampMicrosecond,
  Utf8,
} from 'apache-arrow';
import type { Column, ColumnType } from '../contract/schema.ts';

/** Called when a string value was cut to its column's bound. */
export type TruncationObserver = (column: string) => void;

const utf8 = new TextEncoder();

/** Validity bitmap; grows with the column. */
class Validity {
  bits = new Uint8Array(64);
  nulls = 0;
  set(i: number, valid: boolean): void {
    const byte = i >> 3;
    if (byte >= this.bits.length) this.bits = grow(this.bits, byte + 1);
    if (valid) this.bits[byte]! |= 1 << (i & 7);
    else {
      this.bits[byte]! &= ~(1 << (i & 7));
      this.nulls++;
    }
  }
  bitmap(length: number): Uint8Array | undefined {
    return this.nulls ? this.bits.subarray(0, (length + 7) >> 3) : undefined;
  }
}

function grow<T extends Uint8Array | Int32Array | Float64Array>(a: T, min: number): T {
  const next = new (a.constructor as new (n: number) => T)(Math.max(min, a.length * 2));
  next.set(a);
  return next;
}

export interface ColumnBuilder {
  readonly type: DataType;
  readonly length: number;
  /** Appends a value (null/undefined for null); returns the bytes it added. */
  append(value: unknown): number;
  /** Snapshot of the column as Arrow data (valid until the builder is reused). */
  finish(): Data;
}

class Utf8Builder implements ColumnBuilder {
  readonly type = new Utf8();
  length = 0;
  private offsets = new Int32Array(64);
  private bytes = new Uint8Array(1024);
  private readonly validity = new Validity();
  private readonly name: string;
  private readonly maxLength: number | undefined;
  private readonly onTruncate: TruncationObserver;
  constructor(name: string, maxLength: number | undefined, onTruncate: TruncationObserver) {
    this.name = name;
    this.maxLength = maxLength;
    this.onTruncate = onTruncate;
  }
  append(value: unknown): number {
    const i = this.length++;
    if (i + 2 > this.offsets.length) this.offsets = grow(this.offsets, i + 2);
    const start = this.offsets[i]!;
    if (value == null) {
      this.validity.set(i, false);
      this.offsets[i + 1] = start;
      return 0;
    }
    this.validity.set(i, true);
    let s = typeof value === 'string' ? value : String(value);
    if (this.maxLength !== undefined && s.length > this.maxLength) {
      s = s.slice(0, this.maxLength);
      this.onTruncate(this.name);
    }
    const n = s.length;
    if (start + n * 3 > this.bytes.length) this.bytes = grow(this.bytes, start + n * 3);
    let p = start;
    const b = this.bytes;
    for (let k = 0; k < n; k++) {
      const c = s.charCodeAt(k);
      if (c > 0x7f) {
        p = start + utf8.encodeInto(s, b.subarray(start)).written;
        break;
      }
      b[p++] = c;
    }
    this.offsets[i + 1] = p;
    return p - start + 4;
  }
  finish(): Data {
    const n = this.length;
    return makeData({
      type: this.type,
      length: n,
      nullCount: this.validity.nulls,
      nullBitmap: this.validity.bitmap(n),
      valueOffsets: this.offsets.subarray(0, n + 1),
      data: this.bytes.subarray(0, this.offsets[n]!),
    });
  }
}

/** int32 and float64: one typed array of values plus validity. */
class NumberBuilder<A extends Int32Array | Float64Array> implements ColumnBuilder {
  readonly type: Int32 | Float64;
  length = 0;
  private values: A;
  private readonly width: number;
  private readonly validity = new Validity();
  constructor(type: Int32 | Float64, values: A) {
    this.type = type;
    this.values = values;
    this.width = values.BYTES_PER_ELEMENT;
  }
  append(value: unknown): number {
    const i = this.length++;
    if (i >= this.values.length) this.values = grow(this.values, i + 1);
    if (value == null) {
      this.validity.set(i, false);
      return 0;
    }
    this.validity.set(i, true);
    this.values[i] = value as number;
    return this.width;
  }
  finish(): Data {
    const n = this.length;
    return makeData({
      type: this.type as Int32,
      length: n,
      nullCount: this.validity.nulls,
      nullBitmap: this.validity.bitmap(n),
      data: this.values.subarray(0, n) as Int32Array,
    });
  }
}

/** int64 and timestamps from JS numbers, without a BigInt per value. */
class Int64Builder implements ColumnBuilder {
  length = 0;
  private words = new Int32Array(128);
  private readonly validity = new Validity();
  readonly type: Int64 | TimestampMicrosecond;
  constructor(type: Int64 | TimestampMicrosecond) {
    this.type = type;
  }
  append(value: unknown): number {
    const i = this.length++;
    if (2 * i + 2 > this.words.length) this.words = grow(this.words, 2 * i + 2);
    if (value == null) {
      this.validity.set(i, false);
      return 0;
    }
    this.validity.set(i, true);
    const x = Math.trunc(value as number);
    // Little-endian two's complement halves; exact for |x| < 2^53.
    const high = Math.floor(x / 4294967296);
    this.words[2 * i] = x - high * 4294967296;
    this.words[2 * i + 1] = high;
    return 8;
  }
  finish(): Data {
    const n = this.length;
    return makeData({
      type: this.type as Int64,
      length: n,
      nullCount: this.validity.nulls,
      nullBitmap: this.validity.bitmap(n),
      data: new BigInt64Array(this.words.buffer, 0, n),
    });
  }
}

class BoolBuilder implements ColumnBuilder {
  readonly type = new Bool();
  length = 0;
  private readonly values = new Validity();
  private readonly validity = new Validity();
  append(value: unknown): number {
    const i = this.length++;
    this.validity.set(i, value != null);
    this.values.set(i, value === true);
    return value == null ? 0 : 1;
  }
  finish(): Data {
    const n = this.length;
    return makeData({
      type: this.type,
      length: n,
      nullCount: this.validity.nulls,
      nullBitmap: this.validity.bitmap(n),
      data: this.values.bits.subarray(0, (n + 7) >> 3),
    });
  }
}

class ListBuilder implements ColumnBuilder {
  readonly type: List;
  length = 0;
  private offsets = new Int32Array(64);
  private readonly validity = new Validity();
  private readonly child: ColumnBuilder;
  constructor(child: ColumnBuilder) {
    this.child = child;
    this.type = new List(new Field('element', child.type, false));
  }
  append(value: unknown): number {
    const i = this.length++;
    if (i + 2 > this.offsets.length) this.offsets = grow(this.offsets, i + 2);
    const items = value == null ? [] : (value as readonly unknown[]);
    this.validity.set(i, true);
    let bytes = 4;
    for (const item of items) bytes += this.child.append(item);
    this.offsets[i + 1] = this.offsets[i]! + items.length;
    return bytes;
  }
  finish(): Data {
    const n = this.length;
    return makeData({
      type: this.type,
      length: n,
      nullCount: 0,
      valueOffsets: this.offsets.subarray(0, n + 1),
      child: this.child.finish(),
    });
  }
}

class StructBuilder implements ColumnBuilder {
  readonly type: Struct;
  length = 0;
  private readonly validity = new Validity();
  private readonly columns: readonly { name: string; builder: ColumnBuilder; nullable: boolean }[];
  constructor(columns: readonly { name: string; builder: ColumnBuilder; nullable: boolean }[]) {
    this.columns = columns;
    this.type = new Struct(columns.map((c) => new Field(c.name, c.builder.type, c.nullable)));
  }
  append(value: unknown): number {
    const i = this.length++;
    const row = value as Record<string, unknown> | null | undefined;
    this.validity.set(i, row != null);
    let bytes = 0;
    for (const c of this.columns) bytes += c.builder.append(row?.[c.name]);
    return bytes;
  }
  finish(): Data {
    const n = this.length;
    return makeData({
      type: this.type,
      length: n,
      nullCount: this.validity.nulls,
      nullBitmap: this.validity.bitmap(n),
      children: this.columns.map((c) => c.builder.finish()),
    });
  }
}

/** map<string,string> from a plain object; entries keep insertion order. */
class MapBuilder implements ColumnBuilder {
  readonly type: Map_<Utf8, Utf8>;
  length = 0;
  private offsets = new Int32Array(64);
  private readonly keys: Utf8Builder;
  private readonly values: Utf8Builder;
  constructor(name: string, maxLength: number | undefined, onTruncate: TruncationObserver) {
    this.keys = new Utf8Builder(name, maxLength, onTruncate);
    this.values = new Utf8Builder(name, maxLength, onTruncate);
    const entries = new Struct([new Field('key', new Utf8(), false), new Field('value', new Utf8(), true)]);
    this.type = new Map_(new Field('key_value', entries, false), false);
  }
  append(value: unknown): number {
    const i = this.length++;
    if (i + 2 > this.offsets.length) this.offsets = grow(this.offsets, i + 2);
    let count = 0;
    let bytes = 4;
    if (value != null) {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        bytes += this.keys.append(k) + this.values.append(v);
        count++;
      }
    }
    this.offsets[i + 1] = this.offsets[i]! + count;
    return bytes;
  }
  finish(): Data {
    const n = this.length;
    const entries = makeData({
      type: (this.type.children[0] as Field<Struct>).type,
      length: this.keys.length,
      nullCount: 0,
      children: [this.keys.finish(), this.values.finish()],
    });
    return makeData({
      type: this.type,
      length: n,
      nullCount: 0,
      valueOffsets: this.offsets.subarray(0, n + 1),
      child: entries,
    });
  }
}

const timestampType = () => new TimestampMicrosecond('UTC');

export function builderFor(name: string, type: ColumnType, onTruncate: TruncationObserver): ColumnBuilder {
  switch (type.kind) {
    case 'string':
      return new Utf8Builder(name, type.maxLength, onTruncate);
    case 'int32':
      return new NumberBuilder(new Int32(), new Int32Array(64));
    case 'int64':
      return new Int64Builder(new Int64());
    case 'timestamp':
      return new Int64Builder(timestampType());
    case 'double':
      return new NumberBuilder(new Float64(), new Float64Array(64));
    case 'bool':
      return new BoolBuilder();
    case 'list':
      return new ListBuilder(builderFor(name, type.element, onTruncate));
    case 'map':
      return new MapBuilder(name, type.maxLength, onTruncate);
    case 'struct':
      return new StructBuilder(
        type.fields.map((f) => ({
          name: f.name,
          nullable: f.nullable,
          builder: builderFor(`${name}.${f.name}`, f.type, onTruncate),
        })),
      );
  }
}

/** Arrow fields for a table, in column order. */
export function arrowFields(columns: readonly Column[], builders: readonly ColumnBuilder[]): Field[] {
  return columns.map((c, i) => new Field(c.name, builders[i]!.type, c.nullable));
}

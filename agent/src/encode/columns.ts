// Append-only column builders over growable typed arrays, built from the
// contract's schema. They avoid apache-arrow's generic builders, which are
// several times slower and allocate per value. `finish` hands over
// plain typed arrays (column-data.ts) that the Parquet writer reads directly. They check each value against
// the contract as it goes in (types, ranges, required columns; the same rules
// as contract/validate.ts, in the same pass as the append) and enforce the
// string bounds (a privacy and memory guarantee).

import type { ColumnType } from '../contract/schema.ts';
import type { ColumnData, MapData, Utf8Data } from './column-data.ts';

/** Called when a string value was cut to its column's bound. */
export type TruncationObserver = (column: string) => void;

const utf8 = new TextEncoder();

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** A value the contract does not allow; the row it belongs to is rolled back and dropped. */
export class InvalidValue extends Error {}

/** A growable bitmap (a bool column's values). */
class Bits {
  bits = new Uint8Array(64);
  set(i: number, on: boolean): void {
    const byte = i >> 3;
    if (byte >= this.bits.length) this.bits = grow(this.bits, byte + 1);
    if (on) this.bits[byte]! |= 1 << (i & 7);
    else this.bits[byte]! &= ~(1 << (i & 7));
  }
}

/**
 * Validity bitmap; grows with the column. Written only once the column has
 * a null: until then every entry is valid and there is no bitmap to keep
 * (most columns of most batches), so a valid append costs one comparison.
 */
class Validity {
  private bits = new Uint8Array(0);
  nulls = 0;
  set(i: number, valid: boolean): void {
    if (valid && this.nulls === 0) return;
    const byte = i >> 3;
    if (byte >= this.bits.length) this.bits = grow(this.bits, byte + 1);
    if (valid) this.bits[byte]! |= 1 << (i & 7);
    else {
      if (this.nulls === 0) {
        // Entries [0, i) are all valid: write them now.
        this.bits.fill(0xff, 0, byte);
        this.bits[byte] = (1 << (i & 7)) - 1;
      } else this.bits[byte]! &= ~(1 << (i & 7));
      this.nulls++;
    }
  }
  /** Forgets entries [length, end): counts back the nulls among them. */
  truncate(length: number, end: number): void {
    if (this.nulls === 0) return;
    for (let i = length; i < end; i++) if (!(this.bits[i >> 3]! & (1 << (i & 7)))) this.nulls--;
  }
  bitmap(length: number): Uint8Array | undefined {
    return this.nulls ? this.bits.slice(0, (length + 7) >> 3) : undefined;
  }
}

function grow<T extends Uint8Array | Int32Array | Float64Array>(a: T, min: number): T {
  const next = new (a.constructor as new (n: number) => T)(Math.max(min, a.length * 2));
  next.set(a);
  return next;
}

export interface ColumnBuilder {
  readonly length: number;
  /**
   * Appends a value (null/undefined for null); returns the bytes it added.
   * Throws InvalidValue, before changing its own entries, when the contract
   * does not allow the value (a composite may leave children appended: the
   * row's truncate removes them).
   */
  append(value: unknown): number;
  /** Appends a null whatever the column's nullability (children of a null struct). */
  appendNull(): void;
  /** Drops the entries from `length` on (a row that failed part-way). */
  truncate(length: number): void;
  /** Copy of the column's entries: the builder may go on appending, and the copy may be transferred. */
  finish(): ColumnData;
}

class Utf8Builder implements ColumnBuilder {
  length = 0;
  private offsets = new Int32Array(64);
  private bytes = new Uint8Array(1024);
  private readonly validity = new Validity();
  private readonly name: string;
  private readonly nullable: boolean;
  private readonly maxLength: number | undefined;
  private readonly onTruncate: TruncationObserver;
  /** The previous value: repeated values (node, pod, proxy…) are copied as bytes, not encoded again. */
  private last: string | undefined;
  private lastStart = 0;
  constructor(name: string, nullable: boolean, maxLength: number | undefined, onTruncate: TruncationObserver) {
    this.name = name;
    this.nullable = nullable;
    this.maxLength = maxLength;
    this.onTruncate = onTruncate;
  }
  append(value: unknown): number {
    if (value == null) {
      if (!this.nullable) throw new InvalidValue(`${this.name}: required`);
      this.appendNull();
      return 0;
    }
    if (typeof value !== 'string') throw new InvalidValue(`${this.name}: expected a string, got ${typeof value}`);
    const i = this.length;
    if (i + 2 > this.offsets.length) this.offsets = grow(this.offsets, i + 2);
    const start = this.offsets[i]!;
    let s = value;
    if (this.maxLength !== undefined && s.length > this.maxLength) {
      s = s.slice(0, this.maxLength);
      this.onTruncate(this.name);
    }
    const n = s.length;
    if (start + n * 3 > this.bytes.length) this.bytes = grow(this.bytes, start + n * 3);
    const b = this.bytes;
    let p = start;
    const last = this.last;
    if (s === last && i > 0) {
      // The previous entry's bytes end where this one starts.
      for (let k = this.lastStart; k < start; k++) b[p++] = b[k]!;
    } else {
      for (let k = 0; k < n; k++) {
        const c = s.charCodeAt(k);
        if (c > 0x7f) {
          p = start + utf8.encodeInto(s, b.subarray(start)).written;
          break;
        }
        b[p++] = c;
      }
      this.last = s;
    }
    this.lastStart = start;
    this.offsets[i + 1] = p;
    this.validity.set(i, true);
    this.length = i + 1;
    return p - start + 4;
  }
  appendNull(): void {
    const i = this.length;
    if (i + 2 > this.offsets.length) this.offsets = grow(this.offsets, i + 2);
    this.offsets[i + 1] = this.offsets[i]!;
    this.validity.set(i, false);
    this.length = i + 1;
  }
  truncate(length: number): void {
    if (length >= this.length) return;
    this.validity.truncate(length, this.length);
    this.length = length;
    this.last = undefined;
  }
  finish(): Utf8Data {
    const n = this.length;
    return {
      kind: 'utf8',
      length: n,
      validity: this.validity.bitmap(n),
      offsets: this.offsets.slice(0, n + 1),
      bytes: this.bytes.slice(0, this.offsets[n]!),
    };
  }
}

/** int32 and float64: one typed array of values plus validity. */
class NumberBuilder<A extends Int32Array | Float64Array> implements ColumnBuilder {
  length = 0;
  private values: A;
  private readonly width: number;
  private readonly validity = new Validity();
  private readonly name: string;
  private readonly nullable: boolean;
  private readonly int32: boolean;
  constructor(name: string, nullable: boolean, values: A) {
    this.name = name;
    this.nullable = nullable;
    this.values = values;
    this.width = values.BYTES_PER_ELEMENT;
    this.int32 = values instanceof Int32Array;
  }
  append(value: unknown): number {
    if (value == null) {
      if (!this.nullable) throw new InvalidValue(`${this.name}: required`);
      this.appendNull();
      return 0;
    }
    if (this.int32) {
      if (!Number.isInteger(value) || (value as number) < INT32_MIN || (value as number) > INT32_MAX)
        throw new InvalidValue(`${this.name}: expected a 32-bit integer, got ${String(value)}`);
    } else if (typeof value !== 'number')
      throw new InvalidValue(`${this.name}: expected a number, got ${typeof value}`);
    const i = this.length;
    if (i >= this.values.length) this.values = grow(this.values, i + 1);
    this.values[i] = value as number;
    this.validity.set(i, true);
    this.length = i + 1;
    return this.width;
  }
  appendNull(): void {
    const i = this.length;
    if (i >= this.values.length) this.values = grow(this.values, i + 1);
    this.validity.set(i, false);
    this.length = i + 1;
  }
  truncate(length: number): void {
    if (length >= this.length) return;
    this.validity.truncate(length, this.length);
    this.length = length;
  }
  finish(): ColumnData {
    const n = this.length;
    const validity = this.validity.bitmap(n);
    return this.values instanceof Int32Array
      ? { kind: 'int32', length: n, validity, values: this.values.slice(0, n) }
      : { kind: 'float64', length: n, validity, values: (this.values as Float64Array).slice(0, n) };
  }
}

/** int64 and timestamps from JS numbers, without a BigInt per value. */
class Int64Builder implements ColumnBuilder {
  length = 0;
  private words = new Int32Array(128);
  private readonly validity = new Validity();
  private readonly name: string;
  private readonly nullable: boolean;
  constructor(name: string, nullable: boolean) {
    this.name = name;
    this.nullable = nullable;
  }
  append(value: unknown): number {
    if (value == null) {
      if (!this.nullable) throw new InvalidValue(`${this.name}: required`);
      this.appendNull();
      return 0;
    }
    if (!Number.isSafeInteger(value)) throw new InvalidValue(`${this.name}: expected an integer, got ${String(value)}`);
    const i = this.length;
    if (2 * i + 2 > this.words.length) this.words = grow(this.words, 2 * i + 2);
    const x = value as number;
    // Little-endian two's complement halves; exact for |x| < 2^53.
    const high = Math.floor(x / 4294967296);
    this.words[2 * i] = x - high * 4294967296;
    this.words[2 * i + 1] = high;
    this.validity.set(i, true);
    this.length = i + 1;
    return 8;
  }
  appendNull(): void {
    const i = this.length;
    if (2 * i + 2 > this.words.length) this.words = grow(this.words, 2 * i + 2);
    this.validity.set(i, false);
    this.length = i + 1;
  }
  truncate(length: number): void {
    if (length >= this.length) return;
    this.validity.truncate(length, this.length);
    this.length = length;
  }
  finish(): ColumnData {
    const n = this.length;
    return { kind: 'int64', length: n, validity: this.validity.bitmap(n), words: this.words.slice(0, 2 * n) };
  }
}

class BoolBuilder implements ColumnBuilder {
  length = 0;
  private readonly values = new Bits();
  private readonly validity = new Validity();
  private readonly name: string;
  private readonly nullable: boolean;
  constructor(name: string, nullable: boolean) {
    this.name = name;
    this.nullable = nullable;
  }
  append(value: unknown): number {
    if (value == null) {
      if (!this.nullable) throw new InvalidValue(`${this.name}: required`);
      this.appendNull();
      return 0;
    }
    if (typeof value !== 'boolean') throw new InvalidValue(`${this.name}: expected a boolean, got ${typeof value}`);
    const i = this.length;
    this.validity.set(i, true);
    this.values.set(i, value);
    this.length = i + 1;
    return 1;
  }
  appendNull(): void {
    const i = this.length;
    this.validity.set(i, false);
    this.values.set(i, false);
    this.length = i + 1;
  }
  truncate(length: number): void {
    if (length >= this.length) return;
    this.validity.truncate(length, this.length);
    this.length = length;
  }
  finish(): ColumnData {
    const n = this.length;
    return {
      kind: 'bool',
      length: n,
      validity: this.validity.bitmap(n),
      bits: this.values.bits.slice(0, (n + 7) >> 3),
    };
  }
}

/** Lists are never null: a missing list is written empty. Elements may not be null. */
class ListBuilder implements ColumnBuilder {
  length = 0;
  private offsets = new Int32Array(64);
  private readonly child: ColumnBuilder;
  private readonly name: string;
  constructor(name: string, child: ColumnBuilder) {
    this.name = name;
    this.child = child;
  }
  append(value: unknown): number {
    let count = 0;
    let bytes = 4;
    if (value != null) {
      if (!Array.isArray(value)) throw new InvalidValue(`${this.name}: expected a list`);
      count = value.length;
      for (let k = 0; k < count; k++) {
        const item = value[k];
        if (item == null) throw new InvalidValue(`${this.name}[${k}]: list elements may not be null`);
        bytes += this.child.append(item);
      }
    }
    const i = this.length;
    if (i + 2 > this.offsets.length) this.offsets = grow(this.offsets, i + 2);
    this.offsets[i + 1] = this.offsets[i]! + count;
    this.length = i + 1;
    return bytes;
  }
  appendNull(): void {
    this.append(null);
  }
  truncate(length: number): void {
    this.child.truncate(this.offsets[Math.min(length, this.length)]!);
    if (length < this.length) this.length = length;
  }
  finish(): ColumnData {
    const n = this.length;
    return { kind: 'list', length: n, offsets: this.offsets.slice(0, n + 1), child: this.child.finish() };
  }
}

class StructBuilder implements ColumnBuilder {
  length = 0;
  private readonly validity = new Validity();
  private readonly columns: readonly { name: string; builder: ColumnBuilder; nullable: boolean }[];
  private readonly name: string;
  private readonly nullable: boolean;
  constructor(
    name: string,
    nullable: boolean,
    columns: readonly { name: string; builder: ColumnBuilder; nullable: boolean }[],
  ) {
    this.name = name;
    this.nullable = nullable;
    this.columns = columns;
  }
  append(value: unknown): number {
    if (value == null) {
      if (!this.nullable) throw new InvalidValue(`${this.name}: required`);
      this.appendNull();
      return 0;
    }
    if (typeof value !== 'object') throw new InvalidValue(`${this.name}: expected an object`);
    const row = value as Record<string, unknown>;
    let bytes = 0;
    for (const c of this.columns) bytes += c.builder.append(row[c.name]);
    const i = this.length;
    this.validity.set(i, true);
    this.length = i + 1;
    return bytes;
  }
  appendNull(): void {
    for (const c of this.columns) c.builder.appendNull();
    const i = this.length;
    this.validity.set(i, false);
    this.length = i + 1;
  }
  truncate(length: number): void {
    for (const c of this.columns) c.builder.truncate(length);
    if (length >= this.length) return;
    this.validity.truncate(length, this.length);
    this.length = length;
  }
  finish(): ColumnData {
    const n = this.length;
    return {
      kind: 'struct',
      length: n,
      validity: this.validity.bitmap(n),
      children: this.columns.map((c) => c.builder.finish()),
    };
  }
}

/** map<string,string> from a plain object; entries keep insertion order. Never null: a missing map is written empty. */
class MapBuilder implements ColumnBuilder {
  length = 0;
  private offsets = new Int32Array(64);
  private readonly keys: Utf8Builder;
  private readonly values: Utf8Builder;
  private readonly name: string;
  constructor(name: string, maxLength: number | undefined, onTruncate: TruncationObserver) {
    this.name = name;
    this.keys = new Utf8Builder(name, false, maxLength, onTruncate);
    this.values = new Utf8Builder(name, true, maxLength, onTruncate);
  }
  append(value: unknown): number {
    let count = 0;
    let bytes = 4;
    if (value != null) {
      if (typeof value !== 'object' || Array.isArray(value)) throw new InvalidValue(`${this.name}: expected an object`);
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (v != null && typeof v !== 'string') throw new InvalidValue(`${this.name}.${k}: map values must be strings`);
        bytes += this.keys.append(k) + this.values.append(v);
        count++;
      }
    }
    const i = this.length;
    if (i + 2 > this.offsets.length) this.offsets = grow(this.offsets, i + 2);
    this.offsets[i + 1] = this.offsets[i]! + count;
    this.length = i + 1;
    return bytes;
  }
  appendNull(): void {
    this.append(null);
  }
  truncate(length: number): void {
    const entries = this.offsets[Math.min(length, this.length)]!;
    this.keys.truncate(entries);
    this.values.truncate(entries);
    if (length < this.length) this.length = length;
  }
  finish(): MapData {
    const n = this.length;
    return {
      kind: 'map',
      length: n,
      offsets: this.offsets.slice(0, n + 1),
      keys: this.keys.finish(),
      values: this.values.finish(),
    };
  }
}

/**
 * A builder for one column; `nullable` false makes a null a contract
 * violation (lists and maps excepted: a missing one is written empty).
 */
export function builderFor(
  name: string,
  type: ColumnType,
  onTruncate: TruncationObserver,
  nullable = true,
): ColumnBuilder {
  switch (type.kind) {
    case 'string':
      return new Utf8Builder(name, nullable, type.maxLength, onTruncate);
    case 'int32':
      return new NumberBuilder(name, nullable, new Int32Array(64));
    case 'int64':
    case 'timestamp':
      return new Int64Builder(name, nullable);
    case 'double':
      return new NumberBuilder(name, nullable, new Float64Array(64));
    case 'bool':
      return new BoolBuilder(name, nullable);
    case 'list':
      return new ListBuilder(name, builderFor(name, type.element, onTruncate, false));
    case 'map':
      return new MapBuilder(name, type.maxLength, onTruncate);
    case 'struct':
      return new StructBuilder(
        name,
        nullable,
        type.fields.map((f) => ({
          name: f.name,
          nullable: f.nullable,
          builder: builderFor(`${name}.${f.name}`, f.type, onTruncate, f.nullable),
        })),
      );
  }
}

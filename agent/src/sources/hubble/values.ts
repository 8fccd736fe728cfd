// Hubble flows arrive in two encodings: protojson from the export file (enum
// names, 64-bit integers as strings, RFC 3339 times, bare wrapper values) and
// protobufjs messages from the wire (enum numbers, Long objects, Timestamp
// messages, wrapper messages). These readers accept both, and anything else
// a file may hold, without throwing: a value of the wrong shape is absent.
import { parseTimestampUs } from '../../contract/time.ts';

export type Obj = Readonly<Record<string, unknown>>;

export function obj(v: unknown): Obj | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined;
}

export function arr(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}

/** A non-empty string. */
export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

interface LongLike {
  readonly low: number;
  readonly high: number;
}

function isLong(v: unknown): v is LongLike {
  return typeof (v as LongLike)?.low === 'number' && typeof (v as LongLike)?.high === 'number';
}

/** An unsigned 64-bit value (number, decimal string or Long) as a bigint. */
export function u64(v: unknown): bigint | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? BigInt(v) : undefined;
  if (typeof v === 'string') return /^\d{1,20}$/.test(v) ? BigInt(v) : undefined;
  if (typeof v === 'bigint') return v >= 0n ? v : undefined;
  if (isLong(v)) return (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
  return undefined;
}

/** A non-negative integer that fits a JS number exactly (ports, codes, identities, counts). */
export function uint(v: unknown, max = Number.MAX_SAFE_INTEGER): number | undefined {
  let n: number | undefined;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^\d{1,16}$/.test(v)) n = Number(v);
  else if (isLong(v)) n = (v.high >>> 0) * 2 ** 32 + (v.low >>> 0);
  return n !== undefined && Number.isSafeInteger(n) && n >= 0 && n <= max ? n : undefined;
}

/** An enum value as its name: names pass through, numbers are looked up. */
export function enumName(v: unknown, names: ReadonlyMap<number, string>): string | undefined {
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'number' && Number.isInteger(v)) return names.get(v) ?? String(v);
  return undefined;
}

// Rows partition by event hour; a time outside these years is a broken clock or a broken record.
const MIN_US = Date.UTC(2000, 0, 1) * 1000;
const MAX_US = Date.UTC(2200, 0, 1) * 1000;

/** A google.protobuf.Timestamp (RFC 3339 string or {seconds, nanos}) as epoch µs. */
export function timestampUs(v: unknown): number | undefined {
  let us: number | undefined;
  if (typeof v === 'string') us = parseTimestampUs(v);
  else {
    const o = obj(v);
    if (!o) return undefined;
    const seconds = o.seconds === undefined || o.seconds === null ? 0 : signedSeconds(o.seconds);
    const nanos = o.nanos === undefined || o.nanos === null ? 0 : o.nanos;
    if (
      seconds === undefined ||
      typeof nanos !== 'number' ||
      !Number.isInteger(nanos) ||
      nanos < 0 ||
      nanos > 999_999_999
    )
      return undefined;
    us = seconds * 1_000_000 + Math.floor(nanos / 1000);
  }
  return us !== undefined && us >= MIN_US && us < MAX_US ? us : undefined;
}

function signedSeconds(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
  if (typeof v === 'string') return /^-?\d{1,12}$/.test(v) ? Number(v) : undefined;
  if (isLong(v)) return v.high * 2 ** 32 + (v.low >>> 0);
  return undefined;
}

/** A google.protobuf.BoolValue: a bare boolean in JSON, a message on the wire (absent `value` = false). */
export function boolValue(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  const o = obj(v);
  if (!o) return undefined;
  return o.value === true;
}

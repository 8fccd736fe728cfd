// Timestamps in rows are epoch microseconds (UTC) held in JS numbers: exact
// until the year 2255, and cheap to compare and to encode.

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:?\d{2})?$/;

/**
 * Parses RFC 3339 / ISO 8601 with up to nanosecond fractions, keeping the
 * microseconds that Date.parse would lose. A missing offset means UTC.
 * Returns undefined for anything else.
 */
export function parseTimestampUs(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  if (Number.isNaN(ms)) return undefined;
  const micros = m[7] ? Number(m[7].padEnd(6, '0').slice(0, 6)) : 0;
  let offsetMin = 0;
  const tz = m[8];
  if (tz && tz !== 'Z' && tz !== 'z') {
    const sign = tz[0] === '-' ? -1 : 1;
    const digits = tz.slice(1).replace(':', '');
    offsetMin = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4)));
  }
  return (ms - offsetMin * 60_000) * 1000 + micros;
}

export function nowUs(): number {
  return Date.now() * 1000;
}

export const US_PER_HOUR = 3_600_000_000;

/** Start of the UTC hour containing `us`. */
export function hourStartUs(us: number): number {
  return Math.floor(us / US_PER_HOUR) * US_PER_HOUR;
}

export function formatUs(us: number): string {
  const iso = new Date(Math.floor(us / 1000)).toISOString();
  const micros = String(((us % 1000) + 1000) % 1000).padStart(3, '0');
  return `${iso.slice(0, 23)}${micros}Z`;
}

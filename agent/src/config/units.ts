// Human units in configuration: durations like `30s` and sizes like `64MiB`.

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const sizeUnits: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** Milliseconds from a number of seconds or a string such as `500ms`, `30s`, `5m`, `1h`. */
export function parseDuration(value: number | string): number | undefined {
  if (typeof value === 'number') return value >= 0 ? value * 1000 : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(value);
  return m ? Number(m[1]) * durationUnits[m[2]!]! : undefined;
}

/** Bytes from a number or a string such as `512KiB`, `64MiB`, `1GB`. */
export function parseSize(value: number | string): number | undefined {
  if (typeof value === 'number') return value >= 0 ? Math.floor(value) : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = m ? sizeUnits[m[2]!.toLowerCase()] : undefined;
  return m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : undefined;
}

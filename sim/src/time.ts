// Time formats the simulated components write. All inputs are epoch µs.

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** RFC 3339 with 6 fractional digits (`2026-11-25T07:00:00.123456Z`). */
export function isoUs(us: number): string {
  const ms = Math.floor(us / 1000);
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 19)}.${pad(((us % 1_000_000) + 1_000_000) % 1_000_000, 6)}Z`;
}

/** RFC 3339 with milliseconds, as Envoy's START_TIME (`2026-11-25T07:00:00.123Z`). */
export function isoMs(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString();
}

/** metav1.Time: whole seconds (`2026-11-25T07:00:00Z`). */
export function isoS(us: number): string {
  return `${new Date(Math.floor(us / 1000)).toISOString().slice(0, 19)}Z`;
}

/** RFC 3339 with nanoseconds, trailing zeros trimmed, as containerd stamps CRI log lines. */
export function isoNanosTrimmed(us: number, extraNanos: number): string {
  const frac = `${pad(((us % 1_000_000) + 1_000_000) % 1_000_000, 6)}${pad(extraNanos, 3)}`.replace(/0+$/, '');
  const base = new Date(Math.floor(us / 1000)).toISOString().slice(0, 19);
  return frac ? `${base}.${frac}Z` : `${base}Z`;
}

/** RFC 3339 with 9 fractional digits, as protojson writes Timestamps (Hubble). */
export function isoNanos(us: number, extraNanos: number): string {
  const base = new Date(Math.floor(us / 1000)).toISOString().slice(0, 19);
  return `${base}.${pad(((us % 1_000_000) + 1_000_000) % 1_000_000, 6)}${pad(extraNanos, 3)}Z`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** nginx `$time_local` in UTC (`25/Nov/2026:07:00:00 +0000`). */
export function nginxTimeLocal(us: number): string {
  const d = new Date(Math.floor(us / 1000));
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/** nginx error-log time (`2026/11/25 07:00:00`). */
export function nginxErrorTime(us: number): string {
  const d = new Date(Math.floor(us / 1000));
  return `${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** kubelet's rotated-file suffix (`20261125-070512`, Go layout 20060102-150405). */
export function kubeletRotationStamp(us: number): string {
  const d = new Date(Math.floor(us / 1000));
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}-${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;
}

/** Seconds with millisecond resolution, as nginx writes `$request_time` (`0.012`). */
export function seconds3(us: number): string {
  return (Math.max(0, Math.round(us / 1000)) / 1000).toFixed(3);
}

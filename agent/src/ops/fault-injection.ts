// Crash points for the durability tests: HOPTRACE_FAULT_KILL_AT names a point
// and an occurrence (`after-spool-commit:2`, `after-upload:1`) at which the
// process SIGKILLs itself — no flush, no cleanup, like a node losing power.
// Unset in production, where these checks cost one comparison.

export type CrashPoint = 'after-spool-commit' | 'after-upload';

export class FaultInjector {
  private readonly point: CrashPoint | undefined;
  private readonly occurrence: number;
  private seen = 0;

  constructor(spec = process.env.HOPTRACE_FAULT_KILL_AT) {
    const m = spec ? /^(after-spool-commit|after-upload):(\d+)$/.exec(spec) : null;
    if (spec && !m) throw new Error(`HOPTRACE_FAULT_KILL_AT='${spec}' is not <after-spool-commit|after-upload>:<n>`);
    this.point = m?.[1] as CrashPoint | undefined;
    this.occurrence = m ? Number(m[2]) : 0;
  }

  reached(point: CrashPoint): void {
    if (point !== this.point) return;
    if (++this.seen === this.occurrence) process.kill(process.pid, 'SIGKILL');
  }
}

// JSON logs on stdout (pino). Repeated failures are rate limited by the
// callers that loop (uploads, reconnects) so a stuck dependency cannot flood.
import { pino } from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string, bindings: Record<string, string> = {}): Logger {
  return pino({ level, base: { ...bindings }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** A logger that writes nothing, for tests and tools. */
export const silentLogger: Logger = pino({ level: 'silent' });

// Deterministic record ids: the same input position yields the same id after
// a restart or a re-read, so duplicates can be removed downstream by id.
import { createHash } from 'node:crypto';

/** 32 hex characters (128 bits of SHA-256) over the parts, unambiguously joined. */
export function recordId(...parts: readonly (string | number | bigint)[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    const s = String(p);
    h.update(`${s.length}:`);
    h.update(s);
  }
  return h.digest('hex').slice(0, 32);
}

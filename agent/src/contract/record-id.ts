// Deterministic record ids: the same input position yields the same id after
// a restart or a re-read, so duplicates can be removed downstream by id.
import { hash } from 'node:crypto';

/** 32 hex characters (128 bits of SHA-256) over the parts, unambiguously joined. */
export function recordId(...parts: readonly (string | number | bigint)[]): string {
  // Length-prefixed so ('ab','c') and ('a','bc') differ; one-shot hashing
  // avoids a Hash object per row (it showed in every source's profile).
  let joined = '';
  for (const p of parts) {
    const s = String(p);
    joined += `${s.length}:${s}`;
  }
  return hash('sha256', joined, 'hex').slice(0, 32);
}

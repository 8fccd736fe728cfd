// Paths leave the agent without their query string: it is dropped, or
// replaced by a keyed hash when an operator wants to tell identical queries
// apart without storing them. Userinfo and fragments never survive.
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';

export interface SplitTarget {
  /** The path, without query, fragment, scheme, userinfo or host. */
  readonly path: string;
  /** Whether a query string was present (its value is never returned). */
  readonly hadQuery: boolean;
  /** The raw query string, for hashing only; never store it. */
  readonly query: string | undefined;
}

/**
 * Splits a request target (`/a/b?x=1`, `http://user:pw@host/a?x`, `*`, an
 * authority-form `host:443`) into its path and query.
 */
export function splitTarget(target: string): SplitTarget {
  let rest = target;
  // Origin-form (`/…`), nearly every request, cannot start with a scheme.
  const scheme = rest.charCodeAt(0) === 47 ? null : /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.exec(rest);
  if (scheme) {
    rest = rest.slice(scheme[0].length);
    const slash = rest.search(/[/?#]/);
    rest = slash === -1 ? '/' : rest.slice(slash);
    if (rest.startsWith('?') || rest.startsWith('#')) rest = `/${rest}`;
  }
  const hash = rest.indexOf('#');
  if (hash !== -1) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  if (q === -1) return { path: rest, hadQuery: false, query: undefined };
  return { path: rest.slice(0, q), hadQuery: true, query: rest.slice(q + 1) };
}

/** Keyed hashing of query strings; without a key, queries are simply dropped. */
export class QueryHasher {
  // A KeyObject made once: building the HMAC key from raw bytes on every call
  // cost ten times the hash itself.
  private readonly key: KeyObject | undefined;
  constructor(key: string | undefined) {
    this.key = key ? createSecretKey(Buffer.from(key, 'utf8')) : undefined;
  }
  get enabled(): boolean {
    return this.key !== undefined;
  }
  /** 32 hex characters of HMAC-SHA256, or undefined when hashing is off or there is no query. */
  hash(query: string | undefined): string | undefined {
    if (!this.key || query === undefined || query === '') return undefined;
    return createHmac('sha256', this.key).update(query).digest('hex').slice(0, 32);
  }
}

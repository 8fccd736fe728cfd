// What a parser makes of one line, and the JSON reading both proxies share:
// keys are matched against an allow-list of names (or the operator's
// template), so only listed fields leave the parser.
import { ACCESS_EVIDENCE, type FieldName, type Fields, setField } from './fields.ts';
import { type JsonValue, parseJsonObject } from './lenient-json.ts';

export type ParseOutcome =
  | { readonly kind: 'access'; readonly fields: Fields }
  /** A line that is not an access record (an application or error log line), by kind. */
  | { readonly kind: 'skip'; readonly what: string }
  /** An access record that cannot be read. */
  | { readonly kind: 'malformed'; readonly reason: string };

export interface AccessLogParser {
  readonly proxy: string;
  parse(line: string): ParseOutcome;
}

export type JsonAccess = (line: string) => ParseOutcome;

/** `X-Request-ID`, `x_request_id`, `requestId` → `xrequestid`. */
export const normalizeKey = (k: string) => k.toLowerCase().replace(/[^a-z0-9]/g, '');

const APP_LOG_KEYS = new Set(['level', 'msg', 'message', 'severity', 'lvl', 'logger', 'caller']);
const MAX_DEPTH = 4;

/**
 * Reads JSON access records. With a template (key path → field) only the
 * template's keys are read; otherwise leaf keys are matched by normalised
 * name. Objects without at least two access fields are application logs.
 */
export function jsonAccess(keys: Readonly<Record<string, FieldName>>, template?: Map<string, FieldName>): JsonAccess {
  return (line) => {
    const obj = parseJsonObject(line);
    if (!obj) return { kind: 'malformed', reason: 'not a JSON object' };
    const fields: Fields = {};
    let appKeys = 0;
    const visit = (value: JsonValue, path: string, key: string, depth: number) => {
      if (value === null || typeof value === 'boolean' || Array.isArray(value)) return;
      if (typeof value === 'object') {
        if (depth < MAX_DEPTH)
          for (const [k, v] of Object.entries(value)) visit(v, path ? `${path}.${k}` : k, k, depth + 1);
        return;
      }
      const field = template ? template.get(path) : keys[normalizeKey(key)];
      if (field) setField(fields, field, typeof value === 'number' ? numberText(value) : value);
      else if (depth === 1 && APP_LOG_KEYS.has(key.toLowerCase())) appKeys++;
    };
    visit(obj, '', '', 0);
    let evidence = 0;
    for (const name of Object.keys(fields)) if (ACCESS_EVIDENCE.has(name as FieldName)) evidence++;
    if (evidence >= 2) return { kind: 'access', fields };
    return { kind: 'skip', what: appKeys ? 'json_app' : 'other' };
  };
}

/** Numbers as logged: integers exactly, fractions without exponent notation. */
function numberText(n: number): string {
  if (Number.isInteger(n)) return Number.isSafeInteger(n) ? String(n) : '';
  return Number.isFinite(n) && n >= 0 && n < 1e12 ? n.toFixed(6).replace(/0+$/, '') : '';
}

// Compiles a proxy's log format string (nginx `$variable`s, Envoy
// `%COMMAND%`s) into an anchored regular expression with one group per
// placeholder. Each placeholder's pattern depends on what surrounds it and
// on its kind — a quoted value, a bracketed one, a number, an nginx upstream
// list (`a:1, b:2 : c:3`) — so values with spaces stay in their field.
import type { FieldName, Fields } from './fields.ts';

export type PlaceholderKind = 'plain' | 'number' | 'list';

export interface Placeholder {
  /** The placeholder as written, for messages. */
  readonly token: string;
  /** Canonical field it feeds; undefined for placeholders the contract has no column for. */
  readonly field: FieldName | undefined;
  readonly kind: PlaceholderKind;
  /** nginx's default and JSON escaping write `\x22` and `\"`: unescape the value. */
  readonly unescape: boolean;
}

export interface CompiledFormat {
  readonly source: string;
  /** Quoted values contain no `"` (nginx escaping); tried first. */
  readonly strict: RegExp;
  /** Quoted values may contain raw `"` (nginx `escape=none`, Envoy, which does not escape). */
  readonly lenient: RegExp;
  readonly groups: readonly Placeholder[];
  /** Quoted placeholders: the lenient form backtracks over quotes, so it is tried only on lines with few. */
  readonly quoted: number;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function compileFormat(
  format: string,
  tokenizer: RegExp,
  describe: (token: RegExpExecArray) => Omit<Placeholder, 'unescape'>,
  escaped: boolean,
): CompiledFormat {
  const literals: string[] = [];
  const placeholders: Omit<Placeholder, 'unescape'>[] = [];
  let last = 0;
  const re = new RegExp(tokenizer.source, 'g');
  for (let m = re.exec(format); m; m = re.exec(format)) {
    literals.push(format.slice(last, m.index));
    placeholders.push(describe(m));
    last = m.index + m[0].length;
  }
  literals.push(format.slice(last));
  let strict = '^';
  let lenient = '^';
  let quotedCount = 0;
  for (let i = 0; i < placeholders.length; i++) {
    const before = literals[i]!;
    const after = literals[i + 1]!;
    strict += escapeRe(before);
    lenient += escapeRe(before);
    const p = placeholders[i]!;
    const quoted = before.endsWith('"') && after.startsWith('"');
    const bracketed = before.endsWith('[') && after.startsWith(']');
    let s: string;
    let l: string;
    if (quoted) {
      quotedCount++;
      s = '((?:[^"\\\\]|\\\\.)*)';
      l = '(.*?)';
    } else if (bracketed) {
      s = l = '([^\\]]*)';
    } else if (p.kind === 'list') {
      s = l = '([^ ,]+(?:(?:, | : )[^ ,]+)*)';
    } else if (p.kind === 'number') {
      s = l = '(-|\\d+(?:\\.\\d+)?)';
    } else {
      s = l = '(\\S*)';
    }
    strict += s;
    lenient += l;
  }
  strict += `${escapeRe(literals[literals.length - 1]!)}\\s*$`;
  lenient += `${escapeRe(literals[literals.length - 1]!)}\\s*$`;
  return {
    source: format,
    strict: new RegExp(strict),
    lenient: new RegExp(lenient),
    groups: placeholders.map((p) => ({ ...p, unescape: escaped })),
    quoted: quotedCount,
  };
}

/** nginx escapes (`\x22`, `\"`, `\\`), decoded as UTF-8 bytes. */
export function unescapeValue(v: string): string {
  if (!v.includes('\\')) return v;
  const bytes: number[] = [];
  let out = '';
  const flush = () => {
    if (bytes.length) {
      out += Buffer.from(bytes).toString('utf8');
      bytes.length = 0;
    }
  };
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === '\\' && v[i + 1] === 'x' && /^[0-9a-fA-F]{2}$/.test(v.slice(i + 2, i + 4))) {
      bytes.push(Number.parseInt(v.slice(i + 2, i + 4), 16));
      i += 3;
      continue;
    }
    flush();
    if (c === '\\' && (v[i + 1] === '"' || v[i + 1] === '\\')) {
      out += v[i + 1];
      i++;
      continue;
    }
    out += c;
  }
  flush();
  return out;
}

/** Matches a line against compiled formats (the last one that matched first); fills `fields`. */
export class FormatSet {
  private readonly formats: readonly CompiledFormat[];
  private hit = 0;

  constructor(formats: readonly CompiledFormat[]) {
    this.formats = formats;
  }

  /**
   * `lenient` lets quoted values contain raw quotes. Its regular expressions
   * backtrack over every quote of the line, so lines with many more quotes
   * than the format has are not tried (their cost would grow with the
   * number of quotes to the power of the quoted placeholders).
   */
  match(line: string, fields: Fields, lenient = false): boolean {
    const n = this.formats.length;
    let quotes = -1;
    for (let k = 0; k < n; k++) {
      const i = (this.hit + k) % n;
      const f = this.formats[i]!;
      if (lenient) {
        if (quotes === -1) quotes = countQuotes(line);
        if (quotes > 2 * f.quoted + 6) continue;
      }
      const m = (lenient ? f.lenient : f.strict).exec(line);
      if (!m) continue;
      this.hit = i;
      for (let g = 0; g < f.groups.length; g++) {
        const p = f.groups[g]!;
        const raw = m[g + 1];
        if (p.field === undefined || raw === undefined) continue;
        const value = p.unescape ? unescapeValue(raw) : raw;
        if (value === '' || value === '-' || fields[p.field] !== undefined) continue;
        fields[p.field] = value;
      }
      return true;
    }
    return false;
  }
}

function countQuotes(line: string): number {
  let n = 0;
  for (let i = line.indexOf('"'); i !== -1; i = line.indexOf('"', i + 1)) n++;
  return n;
}

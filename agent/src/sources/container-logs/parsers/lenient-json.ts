// JSON as nginx writes it from a `log_format` template, which is only JSON
// when `escape=json` is set. With nginx's default escaping a `"` inside a
// value becomes `\x22` (and bytes outside printable ASCII `\xHH`), with
// `escape=none` it stays a raw `"`, and an unset numeric variable renders a
// bare `-`. This reader accepts all of that; valid JSON takes the fast path.

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

const MAX_DEPTH = 16;

/** The object a line holds, or undefined when it is not (even leniently) a JSON object. */
export function parseJsonObject(text: string): Record<string, JsonValue> | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, JsonValue>) : undefined;
  } catch {
    // not strict JSON; try the nginx dialects
  }
  try {
    const r = new Reader(text);
    r.ws();
    const v = r.value(0);
    r.ws();
    if (r.pos !== text.length) return undefined;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

class Reader {
  pos = 0;
  private readonly s: string;
  constructor(s: string) {
    this.s = s;
  }

  ws(): void {
    const s = this.s;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c !== 32 && c !== 9 && c !== 10 && c !== 13) break;
      this.pos++;
    }
  }

  value(depth: number): JsonValue {
    if (depth > MAX_DEPTH) throw new Error('too deep');
    const c = this.s[this.pos];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return this.string();
    return this.bare();
  }

  private object(depth: number): Record<string, JsonValue> {
    const out: Record<string, JsonValue> = {};
    this.pos++;
    this.ws();
    if (this.s[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s[this.pos] !== '"') throw new Error('key expected');
      const key = this.string();
      this.ws();
      if (this.s[this.pos] !== ':') throw new Error('colon expected');
      this.pos++;
      this.ws();
      // Own keys only: a key named __proto__ must not reach the prototype.
      Object.defineProperty(out, key, {
        value: this.value(depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      this.ws();
      const c = this.s[this.pos];
      this.pos++;
      if (c === ',') continue;
      if (c === '}') return out;
      throw new Error('comma expected');
    }
  }

  private array(depth: number): JsonValue[] {
    const out: JsonValue[] = [];
    this.pos++;
    this.ws();
    if (this.s[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.pos];
      this.pos++;
      if (c === ',') continue;
      if (c === ']') return out;
      throw new Error('comma expected');
    }
  }

  /** A string; a raw `"` ends it only when what follows can follow a value or key. */
  private string(): string {
    const s = this.s;
    this.pos++;
    let out = '';
    let bytes: number[] | undefined;
    const flushBytes = () => {
      if (bytes) {
        out += Buffer.from(bytes).toString('utf8');
        bytes = undefined;
      }
    };
    while (this.pos < s.length) {
      const c = s[this.pos]!;
      if (c === '\\') {
        const e = s[this.pos + 1];
        if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(s.slice(this.pos + 2, this.pos + 4))) {
          bytes ??= [];
          bytes.push(Number.parseInt(s.slice(this.pos + 2, this.pos + 4), 16));
          this.pos += 4;
          continue;
        }
        flushBytes();
        if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(s.slice(this.pos + 2, this.pos + 6))) {
          out += String.fromCharCode(Number.parseInt(s.slice(this.pos + 2, this.pos + 6), 16));
          this.pos += 6;
          continue;
        }
        const simple: Record<string, string> = {
          '"': '"',
          '\\': '\\',
          '/': '/',
          b: '\b',
          f: '\f',
          n: '\n',
          r: '\r',
          t: '\t',
        };
        out += e !== undefined && simple[e] !== undefined ? simple[e] : `\\${e ?? ''}`;
        this.pos += 2;
        continue;
      }
      flushBytes();
      if (c === '"' && this.closes(this.pos + 1)) {
        this.pos++;
        return out;
      }
      out += c;
      this.pos++;
    }
    throw new Error('unterminated string');
  }

  private closes(at: number): boolean {
    const s = this.s;
    let i = at;
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
    if (i >= s.length) return true;
    const c = s[i];
    if (c === '}' || c === ']' || c === ':') return true;
    // `", "next":` — a comma followed by the next key or value.
    if (c === ',') {
      let j = i + 1;
      while (j < s.length && (s[j] === ' ' || s[j] === '\t')) j++;
      return j >= s.length || s[j] === '"' || s[j] === '{' || s[j] === '[' || /[-0-9tfn]/.test(s[j]!);
    }
    return false;
  }

  /** Numbers, true/false/null, and nginx's bare `-` for an unset numeric variable (read as null). */
  private bare(): JsonValue {
    const s = this.s;
    const start = this.pos;
    while (this.pos < s.length && !/[,}\]\s]/.test(s[this.pos]!)) this.pos++;
    const token = s.slice(start, this.pos);
    if (token === '' || token === '-' || token === 'null') {
      if (token === '') throw new Error('value expected');
      return null;
    }
    if (token === 'true') return true;
    if (token === 'false') return false;
    const n = Number(token);
    if (/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(token) && Number.isFinite(n)) return n;
    throw new Error('bad token');
  }
}

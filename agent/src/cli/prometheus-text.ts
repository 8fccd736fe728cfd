// Reads the Prometheus text exposition format (what /metrics serves) into samples.
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  samples: Sample[];
  types: Map<string, string>;
  /** Samples of one metric name whose labels include `match`. */
  get(name: string, match?: Record<string, string>): Sample[];
  /** Sum of the matching samples (0 when none). */
  sum(name: string, match?: Record<string, string>): number;
  has(name: string): boolean;
}

function parseValue(text: string): number {
  if (text === '+Inf' || text === 'Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === 'NaN') return Number.NaN;
  const v = Number(text);
  if (text === '' || Number.isNaN(v)) throw new Error(`not a sample value: '${text}'`);
  return v;
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    while (text[i] === ' ' || text[i] === ',') i++;
    if (i >= text.length) break;
    const eq = text.indexOf('=', i);
    if (eq < 0 || text[eq + 1] !== '"') throw new Error(`bad labels in: ${line}`);
    const name = text.slice(i, eq).trim();
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        j++;
        value += text[j] === 'n' ? '\n' : text[j];
      } else value += text[j];
    }
    if (j >= text.length) throw new Error(`unterminated label value in: ${line}`);
    labels[name] = value;
    i = j + 1;
  }
  return labels;
}

export function parsePrometheusText(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith('#')) {
      const t = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line);
      if (t) types.set(t[1]!, t[2]!);
      continue;
    }
    const brace = line.indexOf('{');
    let name: string;
    let labels: Record<string, string> = {};
    let rest: string;
    if (brace >= 0 && brace < (line.indexOf(' ') === -1 ? line.length : line.indexOf(' '))) {
      name = line.slice(0, brace);
      // The closing brace is the last one outside quoted values.
      let end = -1;
      let quoted = false;
      for (let i = brace + 1; i < line.length; i++) {
        if (line[i] === '\\') i++;
        else if (line[i] === '"') quoted = !quoted;
        else if (line[i] === '}' && !quoted) {
          end = i;
          break;
        }
      }
      if (end < 0) throw new Error(`unterminated labels in: ${line}`);
      labels = parseLabels(line.slice(brace + 1, end), line);
      rest = line.slice(end + 1).trim();
    } else {
      const sp = line.indexOf(' ');
      if (sp < 0) throw new Error(`no value in: ${line}`);
      name = line.slice(0, sp);
      rest = line.slice(sp + 1).trim();
    }
    samples.push({ name, labels, value: parseValue(rest.split(/\s+/)[0] ?? '') });
  }
  const matches = (s: Sample, match: Record<string, string>) =>
    Object.entries(match).every(([k, v]) => s.labels[k] === v);
  const get = (name: string, match: Record<string, string> = {}) =>
    samples.filter((s) => s.name === name && matches(s, match));
  return {
    samples,
    types,
    get,
    sum: (name, match) => get(name, match).reduce((a, s) => a + s.value, 0),
    has: (name) => samples.some((s) => s.name === name),
  };
}

/** Upper bound of the bucket holding quantile q of a cumulative histogram (undefined when empty). */
export function histogramQuantileBound(
  exposition: Exposition,
  name: string,
  q: number,
  match: Record<string, string> = {},
): number | undefined {
  const byLe = new Map<number, number>();
  for (const s of exposition.get(`${name}_bucket`, match)) {
    const le = parseValue(s.labels.le ?? '');
    byLe.set(le, (byLe.get(le) ?? 0) + s.value);
  }
  const buckets = [...byLe.entries()].sort((a, b) => a[0] - b[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (!total) return undefined;
  return buckets.find(([, count]) => count >= q * total)?.[0];
}

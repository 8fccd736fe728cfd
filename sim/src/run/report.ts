// Presents a run's request paths: a plain-text form for the terminal, and a
// single self-contained HTML file (inline CSS and SVG, no script, no fetched
// asset) that draws chosen request paths hop by hop with timings, evidence
// and confidence, next to the scorecard, freshness, the correlation-issue
// breakdown and table sizes. Every value from the data is escaped: paths
// carry strings that came from logs (pods, authorities, request ids).
import type { TruthRequest } from '../truth.ts';
import type { Percentiles } from './freshness.ts';
import type { Row, Scorecard } from './score.ts';

export interface Hop {
  readonly seq?: number | null;
  readonly kind?: string | null;
  readonly attempt?: number | null;
  readonly from_addr?: string | null;
  readonly to_addr?: string | null;
  readonly service?: string | null;
  readonly routing?: string | null;
  readonly namespace?: string | null;
  readonly pod?: string | null;
  readonly container?: string | null;
  readonly node?: string | null;
  readonly evidence?: string | null;
  readonly network_evidence?: string | null;
  readonly confidence?: number | null;
  readonly start_time?: string | null;
  readonly end_time?: string | null;
  readonly latency_us?: number | null;
  readonly status?: number | null;
}

export interface ExamplePath {
  /** A Gold `request_paths` row (hops as an array of structs). */
  readonly path: Row;
  /** Its correlation issues. */
  readonly issues: readonly Row[];
  /** What really happened, when known. */
  readonly truth?: TruthRequest;
}

export interface FreshnessLine {
  readonly label: string;
  readonly p: Percentiles;
  readonly how: string;
}

export interface ReportInput {
  readonly title: string;
  readonly generatedAt: string;
  /** Run parameters, label → value. */
  readonly run: Readonly<Record<string, string>>;
  readonly scorecard?: Scorecard;
  readonly completeness: Readonly<Record<string, number>>;
  readonly issuesByReason: Readonly<Record<string, number>>;
  readonly freshness: readonly FreshnessLine[];
  readonly tableSizes: Readonly<Record<string, { rows: number; files: number; bytes: number }>>;
  readonly examples: readonly ExamplePath[];
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text and attribute values for HTML and SVG. */
export function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const str = (v: unknown): string => (v === null || v === undefined ? '' : String(v));

export function hopsOf(path: Row): Hop[] {
  const hops = Array.isArray(path.hops) ? (path.hops as Hop[]) : [];
  return [...hops].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  if (Math.abs(ms) < 1) return `${ms.toFixed(2)} ms`;
  if (Math.abs(ms) < 10_000) return `${ms.toFixed(ms < 100 ? 1 : 0)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

export function fmtBytes(b: number): string {
  if (b < 1024) return `${b} B`;
  if (b < 1024 ** 2) return `${(b / 1024).toFixed(1)} KiB`;
  if (b < 1024 ** 3) return `${(b / 1024 ** 2).toFixed(1)} MiB`;
  return `${(b / 1024 ** 3).toFixed(2)} GiB`;
}

const latency = (h: Hop) => (typeof h.latency_us === 'number' ? fmtMs(h.latency_us / 1000) : '');

const who = (h: Hop) => {
  const pod = [h.namespace, h.pod].filter(Boolean).join('/');
  return [pod, h.container ? `(${h.container})` : '', h.node ? `@ ${h.node}` : ''].filter(Boolean).join(' ');
};

/** One hop in words: its title and detail lines. */
export function describeHop(h: Hop): { title: string; lines: string[] } {
  const evidence = [h.evidence, h.network_evidence].filter(Boolean).join(' + ');
  const facts = [
    evidence && `evidence ${evidence}`,
    typeof h.confidence === 'number' && `confidence ${h.confidence.toFixed(2)}`,
    latency(h) && `latency ${latency(h)}`,
    typeof h.status === 'number' && `status ${h.status}`,
  ].filter(Boolean) as string[];
  switch (h.kind) {
    case 'client_to_ingress':
      return {
        title: 'client → load balancer',
        lines: [`${str(h.from_addr)} → ${str(h.to_addr)}`, `to ingress ${who(h)}`, facts.join(' · ')],
      };
    case 'ingress':
      return { title: 'ingress', lines: [who(h), `service ${str(h.service) || '?'}`, facts.join(' · ')] };
    case 'upstream_attempt':
      return {
        title: `attempt ${h.attempt ?? ''}: ${str(h.service) || 'service ?'} via ${str(h.routing) || 'routing ?'}`,
        lines: [`${str(h.from_addr)} → ${str(h.to_addr)}`, `target ${who(h) || '?'}`, facts.join(' · ')],
      };
    case 'downstream':
      return { title: 'downstream', lines: [who(h), `from ${str(h.from_addr)}`, facts.join(' · ')] };
    default:
      return { title: str(h.kind) || 'hop', lines: [who(h), facts.join(' · ')] };
  }
}

const pathTitle = (p: Row) =>
  `${str(p.method)} ${str(p.authority)}${str(p.path)} → ${str(p.status)}  [${str(p.completeness)}]`;

/** A path as indented text for the terminal. */
export function formatPathText(e: ExamplePath): string {
  const p = e.path;
  const lines = [`${pathTitle(p)}  request_id ${str(p.request_id)}`];
  lines.push(
    `    ${str(p.service_namespace)}/${str(p.service_name)} → ${str(p.target_namespace)}/${str(p.target_pod)} ` +
      `(${str(p.target_container)}) @ ${str(p.target_node)}  routing ${str(p.routing)}  confidence ${str(p.confidence)}`,
  );
  for (const h of hopsOf(p)) {
    const d = describeHop(h);
    lines.push(`    ${String(h.seq ?? '').padStart(2)} ${d.title}: ${d.lines.filter(Boolean).join(' | ')}`);
  }
  for (const i of e.issues)
    lines.push(`    issue ${str(i.reason)}${i.segment ? ` (${str(i.segment)})` : ''}: ${str(i.evidence)}`);
  if (e.truth?.target)
    lines.push(
      `    truth: ${e.truth.service.namespace}/${e.truth.service.name} → ${e.truth.target.namespace}/${e.truth.target.pod} @ ${e.truth.target.node}`,
    );
  return lines.join('\n');
}

const BOX_W = 860;
const BOX_H = 74;
const GAP = 34;

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** The path as an SVG: client, then one box per hop in order, arrows labelled with the hop's latency. */
export function pathSvg(path: Row): string {
  const boxes: { title: string; lines: string[]; kind: string; arrow: string }[] = [
    { title: 'client', lines: [str(path.client_ip) || '?'], kind: 'client', arrow: '' },
  ];
  for (const h of hopsOf(path)) {
    const d = describeHop(h);
    boxes.push({ ...d, kind: str(h.kind), arrow: latency(h) });
  }
  const height = boxes.length * (BOX_H + GAP);
  const parts: string[] = [];
  boxes.forEach((b, i) => {
    const y = i * (BOX_H + GAP) + 4;
    if (i > 0) {
      const y0 = y - GAP;
      parts.push(
        `<line x1="40" y1="${y0}" x2="40" y2="${y - 4}" class="arrow" marker-end="url(#head)"/>`,
        b.arrow ? `<text x="52" y="${y0 + GAP / 2 + 4}" class="lat">${esc(b.arrow)}</text>` : '',
      );
    }
    const full = [b.title, ...b.lines].join('\n');
    parts.push(
      `<g class="hop ${esc(b.kind)}"><title>${esc(full)}</title>`,
      `<rect x="4" y="${y}" width="${BOX_W}" height="${BOX_H}" rx="8"/>`,
      `<text x="18" y="${y + 20}" class="t">${esc(clip(b.title, 105))}</text>`,
      ...b.lines
        .filter(Boolean)
        .slice(0, 3)
        .map((l, j) => `<text x="18" y="${y + 38 + j * 16}">${esc(clip(l, 112))}</text>`),
      '</g>',
    );
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${BOX_W + 10}" height="${height}" viewBox="0 0 ${BOX_W + 10} ${height}" role="img">` +
    '<defs><marker id="head" markerWidth="10" markerHeight="8" refX="8" refY="4" orient="auto">' +
    '<path d="M0,0 L10,4 L0,8 z" fill="#555"/></marker></defs>' +
    parts.join('') +
    '</svg>'
  );
}

function barChart(counts: Readonly<Record<string, number>>): string {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  if (!entries.length) return '<p class="muted">none</p>';
  const max = Math.max(...entries.map(([, v]) => v));
  const row = 24;
  const bars = entries.map(([k, v], i) => {
    const w = Math.max(2, Math.round((v / max) * 480));
    const y = i * row;
    return (
      `<text x="0" y="${y + 16}">${esc(k)}</text>` +
      `<rect x="210" y="${y + 4}" width="${w}" height="16" class="bar"/>` +
      `<text x="${216 + w}" y="${y + 16}">${esc(v)}</text>`
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="780" height="${entries.length * row + 4}" role="img">${bars.join('')}</svg>`;
}

function table(head: readonly string[], rows: readonly (readonly unknown[])[]): string {
  return (
    `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>` +
    rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('') +
    '</tbody></table>'
  );
}

const anchor = (i: number) => `path-${i + 1}`;

function exampleSection(e: ExamplePath, i: number): string {
  const p = e.path;
  const facts: [string, unknown][] = [
    ['request id', p.request_id],
    ['trace id', p.trace_id],
    ['completeness', p.completeness],
    ['confidence', p.confidence],
    ['service', `${str(p.service_namespace)}/${str(p.service_name)} (${str(p.service_evidence)})`],
    ['target', `${str(p.target_namespace)}/${str(p.target_pod)} (${str(p.target_container)}) @ ${str(p.target_node)}`],
    ['routing', p.routing],
    ['duration', typeof p.duration_us === 'number' ? fmtMs(p.duration_us / 1000) : ''],
    ['attempts / retries', `${str(p.attempts)} / ${str(p.retries)}`],
    ['missing segments', Array.isArray(p.missing_segments) ? p.missing_segments.join(', ') : ''],
  ];
  if (e.truth)
    facts.push([
      'truth',
      `${e.truth.service.namespace}/${e.truth.service.name} → ${
        e.truth.target ? `${e.truth.target.namespace}/${e.truth.target.pod} @ ${e.truth.target.node}` : 'no target'
      }${e.truth.faults.length ? ` — faults: ${e.truth.faults.join(', ')}` : ''}`,
    ]);
  const issues = e.issues.length
    ? table(
        ['reason', 'segment', 'node', 'evidence'],
        e.issues.map((x) => [x.reason, x.segment, x.node, x.evidence]),
      )
    : '<p class="muted">no correlation issue</p>';
  return (
    `<section class="path" id="${anchor(i)}"><h3>${esc(pathTitle(p))}</h3>` +
    `<dl>${facts.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>` +
    `<div class="diagram">${pathSvg(p)}</div><h4>Issues</h4>${issues}</section>`
  );
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1000px;color:#222;padding:0 1rem}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd}h3{font-size:1.05rem;font-family:ui-monospace,monospace}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:left;font-variant-numeric:tabular-nums}
th{background:#f5f5f5}.muted{color:#777}.pass{color:#176d2b;font-weight:600}.fail{color:#a4161a;font-weight:600}
dl{display:grid;grid-template-columns:11rem 1fr;gap:.15rem 1rem}dt{color:#666}dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}
svg text{font:12px ui-monospace,monospace;fill:#222}svg text.t{font-weight:700}svg text.lat{fill:#555}
.hop rect{fill:#eef4fb;stroke:#5b8bd0}.hop.ingress rect{fill:#eef9f0;stroke:#4a9a5c}.hop.upstream_attempt rect{fill:#fff6e5;stroke:#d09a2f}
.hop.downstream rect{fill:#f4effa;stroke:#8a64c0}.hop.client rect{fill:#f5f5f5;stroke:#999}
.arrow{stroke:#555;stroke-width:1.5}.bar{fill:#5b8bd0}
section.path{border:1px solid #ddd;border-radius:8px;padding:0 1rem 1rem;margin:1rem 0}section.path:target{border-color:#5b8bd0;box-shadow:0 0 0 3px #d6e4f7}
.diagram{overflow-x:auto}nav li{font-family:ui-monospace,monospace}
`;

/** The whole report as one HTML document. */
export function renderReport(r: ReportInput): string {
  const s = r.scorecard;
  const scoreHtml = s
    ? table(
        ['', ''],
        [
          ['requests simulated', s.requests],
          ['request paths (final)', s.paths],
          ['precision of complete paths', `${(s.precision * 100).toFixed(1)} % (${s.completeCorrect}/${s.complete})`],
          ['recall of complete paths', `${(s.recall * 100).toFixed(1)} % (of ${s.fullyEvidenced} fully evidenced)`],
        ],
      ) +
      `<table><thead><tr><th>check</th><th>result</th><th>detail</th></tr></thead><tbody>${s.checks
        .map(
          (c) =>
            `<tr><td>${esc(c.name)}</td><td class="${c.ok ? 'pass' : 'fail'}">${c.ok ? 'PASS' : 'FAIL'}</td><td>${esc(c.detail)}</td></tr>`,
        )
        .join('')}</tbody></table>`
    : '<p class="muted">no scorecard</p>';
  const fresh = table(
    ['from request end to', 'n', 'p50', 'p95', 'max', 'measured as'],
    r.freshness.map((f) => [f.label, f.p.n, fmtMs(f.p.p50), fmtMs(f.p.p95), fmtMs(f.p.max), f.how]),
  );
  const sizes = table(
    ['table', 'rows', 'files', 'bytes'],
    Object.entries(r.tableSizes).map(([k, v]) => [k, v.rows, v.files, fmtBytes(v.bytes)]),
  );
  const nav = r.examples.length
    ? `<nav><ol>${r.examples
        .map((e, i) => `<li><a href="#${anchor(i)}">${esc(pathTitle(e.path))}</a></li>`)
        .join('')}</ol></nav>${r.examples.map(exampleSection).join('')}`
    : '<p class="muted">the lakehouse produced no request path</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(r.title)}</title><style>${CSS}</style></head><body>
<h1>${esc(r.title)}</h1>
<p class="muted">generated ${esc(r.generatedAt)}</p>
${table(
  ['run', ''],
  Object.entries(r.run).map(([k, v]) => [k, v]),
)}
<h2>Request paths</h2>
${nav}
<h2>Scorecard</h2>
${scoreHtml}
<h2>Completeness</h2>
${barChart(r.completeness)}
<h2>Correlation issues by reason</h2>
${barChart(r.issuesByReason)}
<h2>Freshness</h2>
${fresh}
<h2>Table sizes</h2>
${sizes}
</body></html>
`;
}

/** A few paths worth looking at: of each completeness, those with the most hops first. */
export function pickExamples(paths: readonly Row[], perKind: Readonly<Record<string, number>>): Row[] {
  const out: Row[] = [];
  for (const [kind, n] of Object.entries(perKind)) {
    const of = paths
      .filter((p) => p.completeness === kind)
      .sort(
        (a, b) =>
          hopsOf(b).length - hopsOf(a).length ||
          str(a.end_time).localeCompare(str(b.end_time)) ||
          str(a.path_id).localeCompare(str(b.path_id)),
      );
    out.push(...of.slice(0, n));
  }
  return out;
}

// Scores what the lakehouse made of a simulated run against the ground
// truth: precision of `complete` paths (every one must name the right
// Service and target pod/node), recall of complete paths among requests
// whose evidence was all emitted, whether paths that are not complete carry
// an issue with a fitting reason, and whether each injected fault was
// reported by its data-quality check. Prints a scorecard.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Manifest } from '../simulate.ts';
import type { TruthRequest } from '../truth.ts';

const REPO = resolve(import.meta.dirname, '..', '..', '..');

export type Row = Record<string, unknown>;

export interface LakehouseOutput {
  readonly summary: Record<string, unknown>;
  readonly paths: Row[];
  readonly issues: Row[];
  readonly provisional: Row[];
  readonly dq: Row[];
  readonly offsets: Row[];
}

function jsonl(path: string): Row[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Row);
}

/** Runs the lakehouse's local runner over `landing` and reads back Gold, the DQ results and the clock offsets. */
export function runLakehouse(landing: string, warehouse: string, asOf: string, outDir: string): LakehouseOutput {
  const python = process.env.HOPTRACE_PYTHON ?? join(REPO, '.venv', 'bin', 'python');
  const res = spawnSync(
    python,
    [join(import.meta.dirname, 'lakehouse_dump.py'), join(landing, 'hoptrace'), warehouse, asOf, outDir],
    { env: { ...process.env, PYTHONPATH: join(REPO, 'lakehouse', 'src') }, encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  if (res.status !== 0) throw new Error(`lakehouse run failed (${res.status}):\n${(res.stderr ?? '').slice(-4000)}`);
  return {
    summary: JSON.parse(readFileSync(join(outDir, 'summary.json'), 'utf8')) as Record<string, unknown>,
    paths: jsonl(join(outDir, 'gold.request_paths.jsonl')),
    issues: jsonl(join(outDir, 'gold.correlation_issues.jsonl')),
    provisional: jsonl(join(outDir, 'gold.request_paths_provisional.jsonl')),
    dq: jsonl(join(outDir, 'ops.dq_results.jsonl')),
    offsets: jsonl(join(outDir, 'silver.node_clock_offsets.jsonl')),
  };
}

export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface Scorecard {
  readonly requests: number;
  readonly paths: number;
  readonly matched: number;
  readonly completeness: Record<string, number>;
  readonly complete: number;
  readonly completeCorrect: number;
  readonly precision: number;
  readonly fullyEvidenced: number;
  readonly recall: number;
  readonly wrong: { request_id: string; got: string; want: string }[];
  readonly issuesByReason: Record<string, number>;
  readonly checks: Check[];
  readonly ok: boolean;
}

const EVIDENCE_FAULTS = /^(lost|late|rotated|hubble-lost|dup-ids):/;

/** Times in the lakehouse's JSON are ISO strings (Spark writes them with an offset). */
const ms = (v: unknown) => (typeof v === 'string' ? Date.parse(v) : Number.NaN);

export function score(
  truth: readonly TruthRequest[],
  manifest: Manifest,
  out: LakehouseOutput,
  gates: { readonly minRecall: number },
): Scorecard {
  // A path belongs to the request with its request id, on its ingress pod, ending nearest its end.
  const byId = new Map<string, TruthRequest[]>();
  for (const t of truth) byId.set(t.request_id, [...(byId.get(t.request_id) ?? []), t]);
  const matchOf = new Map<Row, TruthRequest>();
  for (const p of out.paths) {
    const candidates = (byId.get(p.request_id as string) ?? []).filter((t) => t.ingress.pod === p.ingress_pod);
    const end = ms(p.end_time);
    const best = candidates.sort((a, b) => Math.abs(Date.parse(a.end) - end) - Math.abs(Date.parse(b.end) - end))[0];
    if (best) matchOf.set(p, best);
  }
  const completeness: Record<string, number> = {};
  for (const p of out.paths) completeness[String(p.completeness)] = (completeness[String(p.completeness)] ?? 0) + 1;
  const complete = out.paths.filter((p) => p.completeness === 'complete');
  const wrong: Scorecard['wrong'] = [];
  let completeCorrect = 0;
  const correctIds = new Set<string>();
  for (const p of complete) {
    const t = matchOf.get(p);
    const got = `${p.service_namespace}/${p.service_name} → ${p.target_namespace}/${p.target_pod}@${p.target_node}`;
    const want = t
      ? `${t.service.namespace}/${t.service.name} → ${t.target ? `${t.target.namespace}/${t.target.pod}@${t.target.node}` : 'none'}`
      : 'no such request';
    if (t && got === want) {
      completeCorrect++;
      correctIds.add(t.id);
    } else wrong.push({ request_id: String(p.request_id), got, want });
  }
  const evidenced = truth.filter((t) => t.target && !t.faults.some((f) => EVIDENCE_FAULTS.test(f)));
  const recalled = evidenced.filter((t) => correctIds.has(t.id)).length;
  const precision = complete.length ? completeCorrect / complete.length : 1;
  const recall = evidenced.length ? recalled / evidenced.length : 1;

  const issuesByReason: Record<string, number> = {};
  const issuesOfPath = new Map<string, Set<string>>();
  for (const i of out.issues) {
    issuesByReason[String(i.reason)] = (issuesByReason[String(i.reason)] ?? 0) + 1;
    if (i.path_id) {
      const s = issuesOfPath.get(String(i.path_id)) ?? new Set<string>();
      s.add(String(i.reason));
      issuesOfPath.set(String(i.path_id), s);
    }
  }
  const checks: Check[] = [];
  const add = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
  add('precision of complete paths = 100 %', precision === 1, `${completeCorrect}/${complete.length}`);
  add(
    `recall of complete paths ≥ ${(gates.minRecall * 100).toFixed(0)} %`,
    recall >= gates.minRecall,
    `${recalled}/${evidenced.length}`,
  );
  add(
    'every request has a path',
    out.paths.length >= truth.filter((t) => !t.faults.some((f) => f.endsWith(':ingress_log@ingress'))).length,
    `${out.paths.length} paths, ${truth.length} requests`,
  );
  const REASONS: Record<string, string[]> = {
    partial: ['missing_segment', 'agent_gap', 'clock_skew', 'unattributed_ip'],
    failed: ['missing_segment', 'unattributed_ip', 'agent_gap'],
    ambiguous: ['ambiguous_candidates', 'duplicate_request_id', 'duplicate_trace_id'],
  };
  const unexplained = out.paths.filter((p) => {
    const want = REASONS[String(p.completeness)];
    if (!want) return false;
    const got = issuesOfPath.get(String(p.path_id)) ?? new Set();
    return !want.some((r) => got.has(r));
  });
  add(
    'paths that are not complete carry an issue with a fitting reason',
    unexplained.length === 0,
    `${unexplained.length} without`,
  );
  const dupPaths = out.paths.filter((p) => matchOf.get(p)?.faults.includes('dup-ids:request_id'));
  const dupFlagged = dupPaths.filter((p) => issuesOfPath.get(String(p.path_id))?.has('duplicate_request_id'));
  if (dupPaths.length)
    add(
      'requests with a re-used request id are flagged duplicate_request_id',
      dupFlagged.length === dupPaths.length,
      `${dupFlagged.length}/${dupPaths.length}`,
    );

  // Each injected fault and the data-quality check that must report it.
  const failing = (check: string, scope?: (s: string) => boolean) =>
    out.dq.filter((d) => d.check === check && d.status === 'fail' && (!scope || scope(String(d.scope))));
  const f = manifest.faults;
  if (f.skewed_nodes.length)
    add(
      'clock skew reported (clock_skew)',
      f.skewed_nodes.every((s) => failing('clock_skew', (sc) => sc.split('->').includes(s.node)).length > 0),
      f.skewed_nodes.map((s) => `${s.node} ${(s.skew_us / 1000).toFixed(0)} ms`).join(', '),
    );
  if (dupPaths.length)
    add(
      'duplicate request ids reported (duplicate_request_id)',
      failing('duplicate_request_id').length > 0,
      `${dupPaths.length} requests`,
    );
  if (f.drift.length) {
    add(
      'extra column reported (schema_drift_rescued: http_requests)',
      failing('schema_drift_rescued', (s) => s === 'http_requests').length > 0,
      'upstream_zone',
    );
    add(
      'renamed column reported (schema_drift_rescued: flows)',
      failing('schema_drift_rescued', (s) => s === 'flows').length > 0,
      'src_pod → source_pod',
    );
    add(
      'unknown schema version reported (schema_drift_version: spans)',
      failing('schema_drift_version', (s) => s === 'spans').length > 0,
      'schema_version 2',
    );
  }
  if (f.agent_restarts.length)
    add(
      'agent restarts lose nothing (no agent_gap)',
      f.agent_restarts.every((r) => failing('agent_gap', (s) => s === r.node).length === 0),
      f.agent_restarts.map((r) => r.node).join(', '),
    );
  return {
    requests: truth.length,
    paths: out.paths.length,
    matched: matchOf.size,
    completeness,
    complete: complete.length,
    completeCorrect,
    precision,
    fullyEvidenced: evidenced.length,
    recall,
    wrong,
    issuesByReason,
    checks,
    ok: checks.every((c) => c.ok),
  };
}

export function formatScorecard(s: Scorecard, out: LakehouseOutput): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  const dqFailures: Record<string, number> = {};
  for (const d of out.dq) if (d.status === 'fail') dqFailures[String(d.check)] = (dqFailures[String(d.check)] ?? 0) + 1;
  const lines = [
    'hoptrace scorecard',
    `  requests simulated        ${s.requests}`,
    `  request paths (final)     ${s.paths} (${Object.entries(s.completeness)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')})`,
    `  precision (complete)      ${pct(s.precision)}  (${s.completeCorrect}/${s.complete} name the true Service and target pod)`,
    `  recall (complete)         ${pct(s.recall)}  (of ${s.fullyEvidenced} requests whose evidence was all emitted)`,
    `  issues                    ${
      Object.entries(s.issuesByReason)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none'
    }`,
    `  data-quality failures     ${
      Object.entries(dqFailures)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none'
    }`,
    '  checks',
    ...s.checks.map((c) => `    ${c.ok ? 'PASS' : 'FAIL'}  ${c.name}  (${c.detail})`),
  ];
  for (const w of s.wrong.slice(0, 5)) lines.push(`    wrong: ${w.request_id}: ${w.got} — truth ${w.want}`);
  lines.push(`  result                    ${s.ok ? 'PASS' : 'FAIL'}`);
  return lines.join('\n');
}

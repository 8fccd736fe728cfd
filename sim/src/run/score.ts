// Scores what the lakehouse made of a simulated run against the ground
// truth: precision of `complete` paths (every one must match the truth hop by
// hop: ingress, Service, routing, each upstream attempt, target pod/container/
// node, downstream hops), recall of complete paths among requests whose
// evidence was all emitted, whether paths that are not complete carry an issue
// with a fitting reason, whether requests that lost evidence or re-used an id
// are reported, and whether each injected fault was reported by its
// data-quality check. Prints a scorecard.
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
    [
      join(import.meta.dirname, 'lakehouse_dump.py'),
      join(landing, 'hoptrace'),
      warehouse,
      asOf,
      outDir,
      // The ALB access logs, under their own prefix, when the run has them.
      ...(existsSync(join(landing, 'alb')) ? [join(landing, 'alb')] : []),
    ],
    { env: { ...process.env, PYTHONPATH: join(REPO, 'lakehouse', 'src') }, encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  if (res.status !== 0) throw new Error(`lakehouse run failed (${res.status}):\n${(res.stderr ?? '').slice(-4000)}`);
  return readLakehouseOutput(outDir);
}

/** When to run the lakehouse as of so that it finalizes the whole run: the last window ends at most 5 minutes
 * after the traffic and closes once the lateness bound (15 minutes plus 2 of grace) has passed it. */
export function finalAsOf(end: string): string {
  return new Date(Date.parse(end) + 25 * 60_000).toISOString();
}

/** What `lakehouse_dump.py` (or `lakehouse_follow.py`) wrote into `outDir`. */
export function readLakehouseOutput(outDir: string): LakehouseOutput {
  return {
    summary: JSON.parse(readFileSync(join(outDir, 'summary.json'), 'utf8')) as Record<string, unknown>,
    paths: jsonl(join(outDir, 'gold.request_paths.jsonl')),
    issues: jsonl(join(outDir, 'gold.correlation_issues.jsonl')),
    provisional: jsonl(join(outDir, 'gold.request_paths_provisional.jsonl')),
    dq: jsonl(join(outDir, 'ops.dq_results.jsonl')),
    offsets: jsonl(join(outDir, 'silver.node_clock_offsets.jsonl')),
  };
}

/** JSON lines of `<outDir>/<name>.jsonl` (none when absent). */
export function readDumpedTable(outDir: string, name: string): Row[] {
  return jsonl(join(outDir, `${name}.jsonl`));
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
    const diffs = t ? pathDiffs(p, t) : [`no such request (${p.service_namespace}/${p.service_name})`];
    if (t && diffs.length === 0) {
      completeCorrect++;
      correctIds.add(t.id);
    } else wrong.push({ request_id: String(p.request_id), got: diffs.join('; '), want: t?.id ?? 'none' });
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
    failed: ['missing_segment', 'unattributed_ip', 'agent_gap', 'lb_only'],
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
  // Evidence a fault removed from the request's own hops (the ingress's upstream attempts): where no other
  // evidence of that segment is left, the path cannot be complete without an issue naming the gap.
  const pathOf = new Map<string, Row>();
  for (const [p, t] of matchOf) pathOf.set(t.id, p);
  const lostUnreported: string[] = [];
  let lostRequests = 0;
  for (const t of truth) {
    const p = pathOf.get(t.id);
    const gone = lostSegments(t);
    if (!p || gone.length === 0) continue;
    lostRequests++;
    const reasons = issuesOfPath.get(String(p.path_id)) ?? new Set<string>();
    const reported = ['missing_segment', 'agent_gap', 'ambiguous_candidates'].some((r) => reasons.has(r));
    if (!reported) lostUnreported.push(`${t.id} (${gone.join(', ')}; ${p.completeness})`);
  }
  if (lostRequests)
    add(
      'requests whose evidence was lost carry an issue (missing_segment / agent_gap)',
      lostUnreported.length === 0,
      `${lostRequests - lostUnreported.length}/${lostRequests}${lostUnreported.length ? `; e.g. ${lostUnreported[0]}` : ''}`,
    );
  // Only an ingress that logs the trace id can tell a re-used one.
  const dupTrace = out.paths.filter((p) => p.trace_id != null && matchOf.get(p)?.faults.includes('dup-ids:trace_id'));
  const dupTraceFlagged = dupTrace.filter((p) => issuesOfPath.get(String(p.path_id))?.has('duplicate_trace_id'));
  if (dupTrace.length)
    add(
      'requests with a re-used trace id are flagged duplicate_trace_id',
      dupTraceFlagged.length === dupTrace.length,
      `${dupTraceFlagged.length}/${dupTrace.length}`,
    );
  // A re-used id is visible only while another request with it has an ingress record.
  const logged = (id: string) =>
    (byId.get(id) ?? []).filter((t) => !t.faults.includes('lost:ingress_log@ingress')).length;
  const dupPaths = out.paths.filter(
    (p) => matchOf.get(p)?.faults.includes('dup-ids:request_id') && logged(String(p.request_id)) > 1,
  );
  const dupFlagged = dupPaths.filter((p) => issuesOfPath.get(String(p.path_id))?.has('duplicate_request_id'));
  if (dupPaths.length)
    add(
      'requests with a re-used request id are flagged duplicate_request_id',
      dupFlagged.length === dupPaths.length,
      `${dupFlagged.length}/${dupPaths.length}`,
    );

  checks.push(...lbHopChecks(complete, matchOf, manifest, out));

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
  const skewed = new Set(f.skewed_nodes.map((s) => s.node));
  const falseSkew = failing('clock_skew', (sc) => sc.split('->').every((n) => !skewed.has(n)));
  add(
    'no clock skew reported between nodes whose clocks agree',
    falseSkew.length === 0,
    falseSkew.length ? falseSkew.map((d) => `${d.scope} ${d.value} µs`).join(', ') : 'none',
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

type PathHop = {
  kind?: string;
  attempt?: number | null;
  to_addr?: string | null;
  routing?: string | null;
  pod?: string | null;
  node?: string | null;
};

/** How a `complete` path differs from the truth, hop by hop: the ingress, the Service and its routing, every
 * upstream attempt (address, routing, the pod it reached), the target pod, container and node, and every
 * downstream hop Gold names (a pod the request really reached downstream). Empty when it is right. */
function pathDiffs(p: Row, t: TruthRequest): string[] {
  const d: string[] = [];
  const eq = (what: string, got: unknown, want: unknown) => {
    if ((got ?? null) !== (want ?? null)) d.push(`${what} ${String(got)} ≠ ${String(want)}`);
  };
  eq('ingress pod', p.ingress_pod, t.ingress.pod);
  eq('ingress node', p.ingress_node, t.ingress.node);
  eq('service', `${p.service_namespace}/${p.service_name}`, `${t.service.namespace}/${t.service.name}`);
  eq('routing', p.routing, t.routing);
  eq('target pod', p.target_pod, t.target?.pod);
  eq('target namespace', p.target_namespace, t.target?.namespace);
  eq('target node', p.target_node, t.target?.node);
  eq('target container', p.target_container, t.target?.container);
  const hops = (p.hops as PathHop[] | undefined) ?? [];
  const attempts = hops.filter((h) => h.kind === 'upstream_attempt');
  // The gateway's access log shows only its last try; ingress-nginx logs every try.
  const logged = t.ingress.controller === 'envoy-gateway' ? t.attempts.slice(-1) : t.attempts;
  eq('attempts', attempts.length, logged.length);
  attempts.forEach((h, i) => {
    const a = logged[i];
    if (!a) return;
    eq(`attempt ${i + 1} address`, h.to_addr, `${a.address}:${a.port}`);
    eq(`attempt ${i + 1} routing`, h.routing, a.routing);
    // A refused try reached no pod; the pod Gold names for it is the one addressed.
    if (a.target) {
      eq(`attempt ${i + 1} pod`, h.pod, a.target.pod);
      eq(`attempt ${i + 1} node`, h.node, a.target.node);
    }
  });
  const reached = new Set(t.downstream.flatMap((c) => (c.target ? [`${c.target.pod}@${c.target.node}`] : [])));
  for (const h of hops.filter((x) => x.kind === 'downstream'))
    if (!reached.has(`${h.pod}@${h.node}`)) d.push(`downstream hop ${h.pod}@${h.node} not reached by the request`);
  return d;
}

// Evidence kinds of the ingress's own upstream hop, by the segment of the path they show.
const SEGMENT_OF: Record<string, 'network' | 'server'> = {
  flow: 'network',
  sidecar_inbound_log: 'server',
  server_span: 'server',
};

/** Segments of the request's upstream attempts whose every piece of evidence a fault removed. */
function lostSegments(t: TruthRequest): string[] {
  const gone: string[] = [];
  for (const f of t.faults) {
    const m = /^(lost|hubble-lost):([a-z_0-9]+)@(attempt-\d+)$/.exec(f);
    const segment = m ? SEGMENT_OF[m[2]] : undefined;
    if (!m || !segment) continue;
    const left = (t.evidence[m[3]] ?? []).filter((k) => SEGMENT_OF[k] === segment);
    if (left.length === 0) gone.push(`${segment}@${m[3]}`);
  }
  return [...new Set(gone)];
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
    `  precision (complete)      ${pct(s.precision)}  (${s.completeCorrect}/${s.complete} match the truth hop by hop)`,
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
  for (const w of s.wrong.slice(0, 5)) lines.push(`    wrong: ${w.request_id} (${w.want}): ${w.got}`);
  lines.push(`  result                    ${s.ok ? 'PASS' : 'FAIL'}`);
  return lines.join('\n');
}

type Hop = { kind?: string; evidence?: string; from_addr?: string | null; to_addr?: string | null };

/** The load-balancer hop (from the ALB access logs): every complete path names the LB record of its request
 * (client address and port as the LB saw them, the ingress pod it forwarded to), and every request the LB answered
 * itself is a path that ends at the LB. */
export function lbHopChecks(
  complete: readonly Row[],
  matchOf: ReadonlyMap<Row, TruthRequest>,
  manifest: Manifest,
  out: LakehouseOutput,
): Check[] {
  if (!manifest.alb?.files.length) return [];
  let right = 0;
  const wrong: string[] = [];
  for (const p of complete) {
    const t = matchOf.get(p);
    const hop = ((p.hops as Hop[] | undefined) ?? []).find((h) => h.evidence === 'lb_log');
    const want = t ? `${t.client.ip}:${t.client.port} → ${t.ingress.ip}:${t.ingress.port}` : 'no such request';
    const got = hop ? `${hop.from_addr} → ${hop.to_addr}` : 'no LB hop';
    if (got === want) right++;
    else wrong.push(`${p.request_id}: ${got} — truth ${want}`);
  }
  const emitted = Object.values(manifest.alb.lb_only).reduce((a, b) => a + b, 0);
  const endsAtLb = out.paths.filter(
    (p) => p.ingress_pod == null && ((p.hops as Hop[] | undefined) ?? []).some((h) => h.evidence === 'lb_log'),
  ).length;
  return [
    {
      name: 'complete paths carry the true LB hop (client → ingress pod)',
      ok: wrong.length === 0,
      detail: `${right}/${complete.length}${wrong.length ? `; e.g. ${wrong[0]}` : ''}`,
    },
    {
      name: 'requests the LB answered itself are paths ending at the LB',
      ok: endsAtLb === emitted,
      detail: `${endsAtLb}/${emitted}`,
    },
    lbParseCheck(out),
  ];
}

/** The simulator writes today's ALB format: every window's lines parse, none is malformed or drifted. */
function lbParseCheck(out: LakehouseOutput): Check {
  const rows = out.dq.filter((d) => d.check === 'lb_log_parse');
  const bad = rows.filter((d) => d.status === 'fail');
  return {
    name: 'LB log lines all parsed (lb_log_parse)',
    ok: rows.length > 0 && bad.length === 0,
    detail: rows.length
      ? `${rows.length - bad.length}/${rows.length} windows${bad.length ? `; ${bad[0]!.details}` : ''}`
      : 'no lb_log_parse rows',
  };
}

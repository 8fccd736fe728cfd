// One simulation run: build the cluster, churn its pods, drive the traffic,
// plan the faults, then write — per node — exactly what that node's agent
// would find (container logs, Hubble export or Calico flow logs, OTLP
// requests to send), the cluster's API objects over time, the ground truth,
// and a manifest. The same configuration always writes the same bytes.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { FAULT_MEANING, type SimConfig } from './config.ts';
import { accessLine } from './emit/access.ts';
import { type AlbReport, writeAlbLogs } from './emit/alb.ts';
import { calicoRecords } from './emit/calico.ts';
import { type CriLine, criRecords, podLogDir, writeContainerLog } from './emit/cri.ts';
import { writeDriftFiles } from './emit/drift.ts';
import { exportLine, flowOf, type HubbleContext, lostLine } from './emit/hubble.ts';
import { clusterChanges } from './emit/k8s.ts';
import { otlpBatches } from './emit/otlp.ts';
import { type FaultPlan, inWindow, planFaults } from './faults.ts';
import { applyChurn, type ChurnRecord } from './lifecycle.ts';
import type { Cluster, Pod, SimNode } from './model.ts';
import type { EvidenceKind, LogRecord, Tag } from './observations.ts';
import { Rng } from './rng.ts';
import { isoUs } from './time.ts';
import { buildTopology } from './topology.ts';
import { generateTraffic } from './traffic.ts';
import type { TruthRequest } from './truth.ts';

export const SIM_VERSION = 1;
const S = 1_000_000;

export interface LateFile {
  /** The file the bytes belong to, relative to the output directory. */
  readonly path: string;
  /** Where the late bytes are (append them to `path`, or send them, once due). */
  readonly from: string;
  readonly kind: 'append' | 'otlp';
  /** True time they become available. */
  readonly available_at: string;
  readonly delay_s: number;
}

export interface Manifest {
  readonly version: number;
  readonly config: Record<string, unknown>;
  readonly start: string;
  readonly end: string;
  readonly cluster: string;
  readonly cni: string;
  readonly routing: string;
  readonly nodes: { name: string; ip: string; pod_cidr: string; zone: string; skew_us: number; root: string }[];
  readonly services: {
    namespace: string;
    name: string;
    cluster_ip: string;
    port: number;
    target_port: number;
    type: string;
    lb_ip: string | null;
  }[];
  readonly routes: { controller: string; name: string; host: string; service: string; service_upstream: boolean }[];
  readonly workloads: {
    key: string;
    role: string;
    sidecar: boolean;
    tracing: boolean;
    l7_visible: boolean;
    calls: string[];
  }[];
  readonly denied_edges: string[];
  readonly counts: Record<string, number>;
  readonly faults: {
    readonly meaning: Record<string, string>;
    readonly rates: Record<string, number>;
    readonly skewed_nodes: { node: string; skew_us: number }[];
    readonly lost: { stream: string; from: string; to: string; records: number }[];
    readonly hubble_lost: { node: string; from: string; to: string; flows: number }[];
    readonly late: LateFile[];
    readonly agent_restarts: { node: string; at: string }[];
    readonly churn: { old_pod: string; new_pod: string; node: string; ip: string; ip_reused: boolean; at: string }[];
    readonly duplicate_ids: number;
    readonly drift: { node: string; files: string[] }[];
    readonly rotated_away: number;
  };
  /** ALB access-log files (`alb/AWSLogs/…`, delivered at `available_at`) and the LB-only requests in them. */
  readonly alb: AlbReport;
  /** sha256 of every file written, by path. */
  readonly files: Record<string, string>;
}

interface Item {
  /** True time the record is written or sent. */
  readonly atUs: number;
  readonly tags: readonly Tag[];
}

export function simulate(cfg: SimConfig, outDir: string): Manifest {
  const root = new Rng(cfg.seed);
  const { cluster, ipams } = buildTopology(cfg, root);
  const churn = applyChurn(cluster, ipams, cfg, root);
  const dupRate = cfg.faults['dup-ids'] ?? 0;
  const traffic = generateTraffic(cluster, cfg, root, dupRate);
  const truthById = new Map(traffic.requests.map((r) => [r.id, r] as const));

  // --- streams, then the faults over them ------------------------------------------
  const logStreams = new Map<string, { pod: Pod; container: string; records: LogRecord[] }>();
  for (const r of traffic.logs) {
    const key = `log:${r.pod.node.name}/${r.pod.namespace}_${r.pod.name}/${r.container}`;
    let s = logStreams.get(key);
    if (!s) {
      s = { pod: r.pod, container: r.container, records: [] };
      logStreams.set(key, s);
    }
    s.records.push(r);
  }
  for (const p of cluster.pods) addStartupLines(p, logStreams, cluster);
  const otlp = otlpBatches(traffic.spans);
  const nodeStreams = cluster.nodes.flatMap((n) => [cfg.cni === 'cilium' ? `hubble:${n.name}` : `calico:${n.name}`]);
  const otlpStreams = [...new Set(otlp.map((b) => `otlp:${b.pod.node.name}/${b.pod.name}`))];
  // Faults that remove or delay records hit streams that carry evidence.
  const evidenceLogs = [...logStreams].filter(([, s]) => s.records.some((r) => r.tags.length)).map(([k]) => k);
  const streams = [...evidenceLogs, ...nodeStreams, ...otlpStreams].sort();
  const plan = planFaults(cfg, root, cluster.nodes, streams, cluster.startUs, cluster.endUs);
  for (const s of plan.skewed) cluster.nodes.find((n) => n.name === s.node)!.skewUs = s.skewUs;

  const files: Record<string, string> = {};
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const write = (rel: string, content: string | Uint8Array) => {
    const path = join(outDir, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
    files[rel] = createHash('sha256').update(content).digest('hex');
  };
  const nodeRoot = (n: SimNode) => `nodes/${n.name}`;
  const lateFiles: LateFile[] = [];
  const lostReport: Manifest['faults']['lost'] = [];
  const credit = (tags: readonly Tag[], fate: 'ok' | 'lost' | 'late' | 'rotated' | 'hubble-lost') => {
    for (const t of tags) {
      const truth = truthById.get(t.req);
      if (!truth) continue;
      if (fate === 'ok') addEvidence(truth, t);
      else {
        const note = `${fate}:${t.evidence}@${t.hop}`;
        if (!truth.faults.includes(note)) truth.faults.push(note);
        if (fate === 'late') addEvidence(truth, t);
      }
    }
  };
  /** Splits a stream's items into kept, late and lost ones. */
  const split = <T extends Item>(key: string, items: readonly T[]) => {
    const lostWin = plan.lost.get(key);
    const late = plan.late.get(key);
    const kept: T[] = [];
    const delayed: T[] = [];
    let lost = 0;
    for (const it of items) {
      if (inWindow(lostWin, it.atUs)) {
        lost++;
        credit(it.tags, 'lost');
      } else if (late && it.atUs >= late.cutUs) delayed.push(it);
      else kept.push(it);
    }
    if (lostWin && lost)
      lostReport.push({ stream: key, from: isoUs(lostWin.fromUs), to: isoUs(lostWin.toUs), records: lost });
    return { kept, delayed, late };
  };

  // --- container logs -----------------------------------------------------------------
  const criRng = root.fork('cri');
  let rotatedAway = 0;
  for (const key of [...logStreams.keys()].sort()) {
    const s = logStreams.get(key)!;
    const node = s.pod.node;
    const items = s.records
      .map((r, i) => ({ r, i, atUs: r.writeUs, tags: r.tags }))
      .sort((a, b) => a.atUs - b.atUs || a.i - b.i);
    const { kept, delayed, late } = split(key, items);
    // The runtime's clock never goes back: lines stamped in the same microsecond get increasing nanoseconds.
    let lastUs = -1;
    let lastNanos = 0;
    const toLine = (it: (typeof items)[number], ref: number): CriLine => {
      const nodeUs = it.atUs + node.skewUs;
      const nanos = nodeUs === lastUs ? Math.min(999, lastNanos + 1) : criRng.int(0, 899);
      lastUs = nodeUs;
      lastNanos = nanos;
      return {
        nodeUs,
        nanos,
        stream: it.r.kind === 'other' ? it.r.stream : 'stdout',
        text: it.r.kind === 'other' ? it.r.text(nodeUs) : accessLine(it.r, node.skewUs),
        ref,
      };
    };
    const dir = `${nodeRoot(node)}/${podLogDir(s.pod)}/${s.container}`;
    const written = writeContainerLog(dir, kept.map(toLine), cfg.logMaxBytes, cfg.logMaxFiles);
    for (const f of written.files) write(f.path, f.content);
    kept.forEach((it, ref) => {
      const d = written.delivery.get(ref);
      if (d === 'file') credit(it.tags, 'ok');
      else {
        rotatedAway++;
        credit(it.tags, 'rotated');
      }
    });
    if (delayed.length && late) {
      const rel = `late/${dir}/0.log`;
      write(rel, delayed.map((it, k) => criRecords(toLine(it, kept.length + k))).join(''));
      for (const it of delayed) credit(it.tags, 'late');
      lateFiles.push(lateEntry(`${dir}/0.log`, rel, 'append', late.cutUs, late.delayUs, cluster.endUs));
    }
  }

  // --- Hubble ----------------------------------------------------------------------------
  const hubbleLostReport: Manifest['faults']['hubble_lost'] = [];
  if (cfg.cni === 'cilium') {
    const hctx: HubbleContext = { cluster, clusterName: 'sim' };
    const hubbleRng = root.fork('hubble');
    for (const node of cluster.nodes) {
      const key = `hubble:${node.name}`;
      const events = traffic.net.filter((e) => e.observer === node);
      const burst = plan.hubbleLost.get(node.name);
      const lines: { atUs: number; tags: readonly Tag[]; line: string }[] = [];
      let dropped = 0;
      for (const e of events) {
        const flow = flowOf(hctx, e, hubbleRng.uuid(), hubbleRng.int(0, 999));
        if (inWindow(burst, e.atUs)) {
          dropped++;
          credit(e.tags, 'hubble-lost');
          continue;
        }
        lines.push({ atUs: e.atUs, tags: e.tags, line: exportLine(hctx, node, flow) });
      }
      if (burst && dropped) {
        lines.push({
          atUs: burst.toUs,
          tags: [],
          line: lostLine(hctx, node, burst.toUs, dropped, hubbleRng.int(0, 3)),
        });
        lines.sort((a, b) => a.atUs - b.atUs);
        hubbleLostReport.push({ node: node.name, from: isoUs(burst.fromUs), to: isoUs(burst.toUs), flows: dropped });
      }
      const { kept, delayed, late } = split(key, lines);
      const rel = `${nodeRoot(node)}/var/run/cilium/hubble/events.log`;
      write(rel, kept.map((l) => `${l.line}\n`).join(''));
      for (const l of kept) credit(l.tags, 'ok');
      if (delayed.length && late) {
        write(`late/${rel}`, delayed.map((l) => `${l.line}\n`).join(''));
        for (const l of delayed) credit(l.tags, 'late');
        lateFiles.push(lateEntry(rel, `late/${rel}`, 'append', late.cutUs, late.delayUs, cluster.endUs));
      }
    }
  } else {
    const records = calicoRecords(traffic.connections, cfg.calicoFlushS, cluster.endUs);
    for (const node of cluster.nodes) {
      const key = `calico:${node.name}`;
      const mine = records.filter((r) => r.node === node).map((r) => ({ ...r, atUs: r.writeUs - node.skewUs }));
      const { kept, delayed, late } = split(key, mine);
      const rel = `${nodeRoot(node)}/var/log/calico/flowlogs/flows.log`;
      write(rel, kept.map((r) => `${r.line}\n`).join(''));
      for (const r of kept) credit(r.tags, 'ok');
      if (delayed.length && late) {
        write(`late/${rel}`, delayed.map((r) => `${r.line}\n`).join(''));
        for (const r of delayed) credit(r.tags, 'late');
        lateFiles.push(lateEntry(rel, `late/${rel}`, 'append', late.cutUs, late.delayUs, cluster.endUs));
      }
    }
  }

  // --- OTLP ------------------------------------------------------------------------------------
  for (const node of cluster.nodes) {
    const batches = otlp.filter((b) => b.pod.node === node);
    const kept: string[] = [];
    const late: string[] = [];
    let lateWhen: { cutUs: number; delayUs: number } | undefined;
    const byPod = new Map<string, typeof batches>();
    for (const b of batches) {
      const k = `otlp:${node.name}/${b.pod.name}`;
      byPod.set(k, [...(byPod.get(k) ?? []), b]);
    }
    const all: { atUs: number; line: string; late: boolean }[] = [];
    for (const [key, list] of [...byPod].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const {
        kept: k,
        delayed,
        late: plan1,
      } = split(
        key,
        list.map((b) => ({ atUs: b.sendUs, tags: b.tags, b })),
      );
      for (const it of k) {
        credit(it.tags, 'ok');
        all.push({ atUs: it.atUs, line: otlpLine(it.b.sendUs, it.b.pod, it.b.body), late: false });
      }
      for (const it of delayed) {
        credit(it.tags, 'late');
        all.push({ atUs: it.atUs, line: otlpLine(it.b.sendUs, it.b.pod, it.b.body), late: true });
      }
      if (delayed.length && plan1 && (!lateWhen || plan1.cutUs < lateWhen.cutUs)) lateWhen = plan1;
    }
    all.sort((a, b) => a.atUs - b.atUs);
    for (const a of all) (a.late ? late : kept).push(a.line);
    const rel = `${nodeRoot(node)}/otlp/requests.jsonl`;
    write(rel, kept.join(''));
    if (late.length && lateWhen) {
      write(`late/${rel}`, late.join(''));
      lateFiles.push(lateEntry(rel, `late/${rel}`, 'otlp', lateWhen.cutUs, lateWhen.delayUs, cluster.endUs));
    }
  }

  // --- Kubernetes, truth, drift, manifest -----------------------------------------------------------
  const bootUs = cluster.startUs - 3 * 3600 * S;
  const changes = clusterChanges(cluster, bootUs);
  write(
    'cluster/changes.jsonl',
    changes
      .map(
        (c) => `${JSON.stringify({ at: isoUs(c.atUs), type: c.type, collection: c.collection, object: c.object })}\n`,
      )
      .join(''),
  );
  markTruthFaults(traffic.requests, plan, churn);
  write('truth.jsonl', traffic.requests.map((r) => `${JSON.stringify(r)}\n`).join(''));
  // The cloud load balancers' own access logs: AWS delivers them to S3, no agent involved.
  const alb = writeAlbLogs(cluster, traffic.requests, root.fork('alb'), write);
  const drift = writeDriftFiles(root, cluster, plan.drift, write);

  const count = (e: EvidenceKind) =>
    traffic.requests.filter((r) => Object.values(r.evidence).some((l) => l.includes(e))).length;
  const manifest: Manifest = {
    version: SIM_VERSION,
    config: configJson(cfg),
    start: isoUs(cluster.startUs),
    end: isoUs(cluster.endUs),
    cluster: cluster.name,
    cni: cfg.cni,
    routing: cfg.routing,
    nodes: cluster.nodes.map((n) => ({
      name: n.name,
      ip: n.ip,
      pod_cidr: n.podCidr,
      zone: n.zone,
      skew_us: n.skewUs,
      root: nodeRoot(n),
    })),
    services: cluster.services.map((s) => ({
      namespace: s.namespace,
      name: s.name,
      cluster_ip: s.clusterIp,
      port: s.port,
      target_port: s.targetPort,
      type: s.type,
      lb_ip: s.lbIp ?? null,
    })),
    routes: cluster.routes.map((r) => ({
      controller: r.controller,
      name: r.name,
      host: r.host,
      service: r.service.key,
      service_upstream: r.serviceUpstream,
    })),
    workloads: cluster.workloads.map((w) => ({
      key: w.key,
      role: w.role,
      sidecar: w.sidecar,
      tracing: w.tracing,
      l7_visible: w.l7Visible,
      calls: w.calls,
    })),
    denied_edges: [...cluster.deniedEdges].sort(),
    counts: {
      requests: traffic.requests.length,
      downstream_calls: traffic.requests.reduce((a, r) => a + r.downstream.length, 0),
      retried_requests: traffic.requests.filter((r) => r.attempts.length > 1).length,
      connections: traffic.connections.length,
      access_records: traffic.logs.filter((l) => l.kind !== 'other').length,
      network_events: traffic.net.length,
      spans: traffic.spans.length,
      otlp_requests: otlp.length,
      k8s_changes: changes.length,
      pods: cluster.pods.length,
      requests_with_flow_evidence: count('flow'),
      requests_with_span_evidence: count('server_span'),
    },
    faults: {
      meaning: { ...FAULT_MEANING },
      rates: { ...cfg.faults } as Record<string, number>,
      skewed_nodes: plan.skewed.map((s) => ({ node: s.node, skew_us: s.skewUs })),
      lost: lostReport,
      hubble_lost: hubbleLostReport,
      late: lateFiles,
      agent_restarts: plan.restarts.map((r) => ({ node: r.node, at: isoUs(r.atUs) })),
      churn: churn.map((c) => ({
        old_pod: `${c.oldPod.namespace}/${c.oldPod.name}`,
        new_pod: `${c.newPod.namespace}/${c.newPod.name}`,
        node: c.newPod.node.name,
        ip: c.newPod.ip,
        ip_reused: c.ipReused,
        at: isoUs(c.newPod.createdUs),
      })),
      duplicate_ids: traffic.requests.filter((r) => r.faults.some((f) => f.startsWith('dup-ids'))).length,
      drift,
      rotated_away: rotatedAway,
    },
    alb,
    files,
  };
  writeFileSync(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

function addEvidence(truth: TruthRequest, t: Tag): void {
  const list = truth.evidence[t.hop] ?? [];
  truth.evidence[t.hop] = list;
  if (!list.includes(t.evidence)) list.push(t.evidence);
}

function lateEntry(
  path: string,
  from: string,
  kind: 'append' | 'otlp',
  cutUs: number,
  delayUs: number,
  endUs: number,
): LateFile {
  const at = Math.max(cutUs, endUs) + delayUs;
  return { path, from, kind, available_at: isoUs(at), delay_s: Math.round(delayUs / S) };
}

function otlpLine(sendUs: number, pod: Pod, body: unknown): string {
  return `${JSON.stringify({ sent_at: isoUs(sendUs), node: pod.node.name, pod: `${pod.namespace}/${pod.name}`, body })}\n`;
}

/** Startup lines a proxy container writes when it starts (klog, Envoy, pilot-agent). */
function addStartupLines(
  p: Pod,
  streams: Map<string, { pod: Pod; container: string; records: LogRecord[] }>,
  cluster: Cluster,
): void {
  const at = Math.max(p.runningUs, cluster.startUs - 60 * S);
  const add = (container: string, stream: 'stdout' | 'stderr', text: (t: number) => string, offset: number) => {
    const key = `log:${p.node.name}/${p.namespace}_${p.name}/${container}`;
    let s = streams.get(key);
    if (!s) {
      s = { pod: p, container, records: [] };
      streams.set(key, s);
    }
    s.records.push({ kind: 'other', pod: p, container, stream, writeUs: at + offset, text, tags: [] });
  };
  const klog = (t: number, file: string, msg: string) => {
    const d = new Date(Math.floor(t / 1000));
    const pad = (n: number, w = 2) => String(n).padStart(w, '0');
    return `I${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(Math.floor(t % 1_000_000), 6)}       7 ${file}] ${msg}`;
  };
  const envoyApp = (t: number, level: string, component: string, msg: string) =>
    `[${new Date(Math.floor(t / 1000)).toISOString().replace('T', ' ').slice(0, 23)}][1][${level}][${component}] ${msg}`;
  if (p.workload.role === 'ingress-nginx') {
    add(
      'controller',
      'stdout',
      () => '-------------------------------------------------------------------------------',
      0,
    );
    add('controller', 'stdout', () => 'NGINX Ingress controller', 10);
    add('controller', 'stdout', () => '  Release:       v1.15.1', 20);
    add(
      'controller',
      'stderr',
      (t) => klog(t, 'main.go:205', '"Creating API client" host="https://10.96.0.1:443"'),
      400_000,
    );
    add('controller', 'stderr', (t) => klog(t, 'controller.go:214', '"Backend successfully reloaded"'), 900_000);
  }
  if (p.workload.role === 'envoy-gateway') {
    add(
      'envoy',
      'stderr',
      (t) => envoyApp(t, 'info', 'main', 'initializing epoch 0 (base id=0, hot restart version=11.104)'),
      0,
    );
    add(
      'envoy',
      'stderr',
      (t) => envoyApp(t, 'info', 'upstream', 'cds: added/updated 4 cluster(s), skipped 0 unmodified cluster(s)'),
      300_000,
    );
  }
  if (p.workload.sidecar) {
    add(
      'istio-proxy',
      'stdout',
      (t) =>
        `${new Date(Math.floor(t / 1000)).toISOString().slice(0, 19)}.${String(t % 1_000_000).padStart(6, '0')}Z\tinfo\tEnvoy proxy is ready`,
      1_200_000,
    );
    add(
      'istio-proxy',
      'stderr',
      (t) =>
        envoyApp(
          t,
          'warning',
          'config',
          'StreamAggregatedResources gRPC config stream to xds-grpc closed since 1800s ago: 13, ',
        ),
      1_500_000,
    );
  }
  if (p.workload.role === 'app')
    add(
      p.workload.container,
      'stdout',
      (t) =>
        JSON.stringify({
          level: 'info',
          time: new Date(Math.floor(t / 1000)).toISOString(),
          msg: `listening on :${p.workload.port}`,
        }),
      800_000,
    );
}

/** Faults every request is exposed to beyond its own evidence: skewed nodes, reused IPs. */
function markTruthFaults(requests: TruthRequest[], plan: FaultPlan, churn: ChurnRecord[]): void {
  const skewed = new Set(plan.skewed.map((s) => s.node));
  const reused = new Set(churn.filter((c) => c.ipReused).map((c) => c.newPod.ip));
  for (const r of requests) {
    const nodes = new Set<string>([r.ingress.node]);
    const ips = new Set<string>();
    for (const t of [...r.attempts.map((a) => a.target), ...r.downstream.map((d) => d.target)])
      if (t) {
        nodes.add(t.node);
        ips.add(t.ip);
      }
    for (const n of [...nodes].sort()) if (skewed.has(n)) r.faults.push(`skew:${n}`);
    for (const ip of [...ips].sort()) if (reused.has(ip)) r.faults.push(`ip-reuse:${ip}`);
  }
}

function configJson(cfg: SimConfig): Record<string, unknown> {
  return {
    seed: cfg.seed,
    nodes: cfg.nodes,
    duration_s: cfg.durationS,
    rate: cfg.rate,
    start: isoUs(cfg.startUs),
    cni: cfg.cni,
    routing: cfg.routing,
    sidecar_share: cfg.sidecarShare,
    tracing_share: cfg.tracingShare,
    l7_share: cfg.l7Share,
    client_trace_share: cfg.clientTraceShare,
    error_rate: cfg.errorRate,
    not_found_rate: cfg.notFoundRate,
    timeout_rate: cfg.timeoutRate,
    connect_error_rate: cfg.connectErrorRate,
    policy_deny_share: cfg.policyDenyShare,
    long_line_share: cfg.longLineShare,
    log_max_bytes: cfg.logMaxBytes,
    log_max_files: cfg.logMaxFiles,
    calico_flush_s: cfg.calicoFlushS,
    hubble_aggregation: cfg.hubbleAggregation,
    faults: cfg.faults,
  };
}

/** Every file under `dir` with its sha256, by relative path (for comparing runs). */
export function treeDigest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

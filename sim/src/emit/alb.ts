// AWS Application Load Balancer access logs for the cluster's load balancers,
// as ALB delivers them: one gzip file per LB node per 5-minute interval, under
// AWSLogs/<account>/elasticloadbalancing/<region>/yyyy/mm/dd/, fields in the
// documented order. The LB answers a few requests itself (460/502/503/504,
// target `-`): they never reach the cluster and are not in the truth.
// Times are AWS's clock (true time); files arrive minutes after their interval.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { Cluster, LoadBalancer } from '../model.ts';
import type { Rng } from '../rng.ts';
import { isoUs } from '../time.ts';
import type { TruthRequest } from '../truth.ts';

export const ALB_ACCOUNT = '123456789012';
export const ALB_REGION = 'eu-west-1';
const INTERVAL_US = 5 * 60 * 1_000_000;
/** Share of requests the LB answers itself (extra to the cluster's traffic). */
const LB_ONLY_SHARE = 0.01;

export interface AlbFile {
  /** Path relative to the output directory. */
  readonly path: string;
  readonly lb: string;
  readonly node_ip: string;
  readonly interval_end: string;
  /** True time ALB delivers the file. */
  readonly available_at: string;
  readonly records: number;
}

export interface AlbReport {
  readonly account: string;
  readonly region: string;
  readonly files: AlbFile[];
  /** Requests the LB answered itself, by status. */
  readonly lb_only: Record<string, number>;
}

interface Line {
  readonly lb: LoadBalancer;
  readonly nodeIp: string;
  readonly atUs: number;
  readonly text: string;
}

const hex = (seed: string, n: number) => createHash('sha256').update(seed).digest('hex').slice(0, n);
const secs = (us: number) => (us / 1_000_000).toFixed(6).replace(/0{3}$/, '');
const us = (iso: string) => Date.parse(iso) * 1000 + (Number(iso.slice(23, 26)) || 0);

function lbId(lb: LoadBalancer): string {
  return `app/k8s-${lb.controller.slice(0, 12)}/${hex(`alb:${lb.vip}`, 16)}`;
}

/** `Root=1-<epoch s hex8>-<hex24>`, as ALB adds to X-Amzn-Trace-Id. */
function traceHeader(id: string, atUs: number): string {
  return `Root=1-${Math.floor(atUs / 1_000_000)
    .toString(16)
    .padStart(8, '0')}-${hex(`trace:${id}`, 24)}`;
}

function line(
  lb: LoadBalancer,
  f: {
    readonly id: string;
    readonly startUs: number;
    readonly endUs: number;
    readonly client: string;
    readonly target: string | null;
    readonly rpUs: number;
    readonly status: number;
    readonly request: string;
    readonly userAgent: string;
    readonly host: string;
    readonly error: string;
    readonly priority: number;
  },
): string {
  const tg = `arn:aws:elasticloadbalancing:${ALB_REGION}:${ALB_ACCOUNT}:targetgroup/k8s-${lb.controller.slice(0, 12)}/${hex(`tg:${lb.vip}`, 16)}`;
  const cert = `arn:aws:acm:${ALB_REGION}:${ALB_ACCOUNT}:certificate/${hex(`cert:${lb.vip}`, 8)}-${hex(`cert2:${lb.vip}`, 4)}`;
  const t = f.target;
  const tp = t ? secs(f.endUs - f.startUs - f.rpUs - 500) : '-1';
  const st = t ? String(f.status) : '-';
  const quote = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  return [
    'https',
    isoUs(f.endUs),
    lbId(lb),
    f.client,
    t ?? '-',
    t ? secs(f.rpUs) : '-1',
    tp,
    t ? '0.0005' : '-1',
    String(f.status),
    st,
    String(200 + ((f.id.length * 37) % 700)),
    String(300 + (f.endUs % 4000)),
    quote(f.request),
    quote(f.userAgent),
    'ECDHE-RSA-AES128-GCM-SHA256',
    'TLSv1.2',
    t ? tg : '-',
    quote(traceHeader(f.id, f.startUs)),
    quote(f.host),
    quote(cert),
    String(f.priority),
    isoUs(f.startUs),
    quote('forward'),
    quote('-'),
    quote(f.error),
    quote(t ?? '-'),
    quote(st),
    quote('-'),
    quote('-'),
    `TID_${hex(`conn:${f.id}`, 32)}`,
  ].join(' ');
}

/** Access-log files of every LB, with their delivery times; `write` stores each file. */
export function writeAlbLogs(
  cluster: Cluster,
  requests: readonly TruthRequest[],
  rng: Rng,
  write: (rel: string, content: Uint8Array) => void,
): AlbReport {
  const agent = new Map(cluster.clients.map((c) => [c.ip, c.userAgent] as const));
  const lines: Line[] = [];
  for (const r of requests) {
    const lb = cluster.lbs.find((l) => l.vip === r.lb.vip);
    if (!lb) continue;
    const startUs = us(r.start);
    const endUs = us(r.end) + 500;
    // The client's query string is in the LB's log (the lakehouse must drop it).
    const query = rng.chance(0.1) ? `?session=${hex(`q:${r.id}`, 12)}` : '';
    const priority = cluster.routes.findIndex((x) => x.name === r.route) + 1;
    lines.push({
      lb,
      nodeIp: r.lb.ip,
      atUs: endUs,
      text: line(lb, {
        id: r.id,
        startUs,
        endUs,
        client: `${r.client.ip}:${r.client.port}`,
        target: `${r.ingress.ip}:${r.ingress.port}`,
        rpUs: 300 + rng.int(0, 1200),
        status: r.status,
        request: `${r.method} https://${r.authority}:443${r.path}${query} HTTP/1.1`,
        userAgent: agent.get(r.client.ip) ?? '-',
        host: r.authority,
        error: '-',
        priority,
      }),
    });
  }
  // Requests the LB answered itself: client closed (460), no healthy target or failed
  // connection (503/502), timeout (504).
  const lbOnly: Record<string, number> = {};
  const n = Math.max(cluster.lbs.length, Math.round(requests.length * LB_ONLY_SHARE));
  const reasons: [number, string][] = [
    [460, '-'],
    [502, 'TargetConnectionErrorCode'],
    [503, '-'],
    [504, 'TargetResponseTimeout'],
  ];
  for (let i = 0; i < n; i++) {
    const lb = cluster.lbs[i % cluster.lbs.length]!;
    const route = cluster.routes.find((x) => x.controller === lb.controller) ?? cluster.routes[0]!;
    const client = rng.pick(cluster.clients);
    const [status, error] = rng.pick(reasons);
    const startUs = cluster.startUs + rng.int(0, cluster.endUs - cluster.startUs - 1);
    const endUs = startUs + (status === 504 ? 60_000_000 : rng.int(200, 3000));
    const id = `lb-only-${i}`;
    lbOnly[String(status)] = (lbOnly[String(status)] ?? 0) + 1;
    lines.push({
      lb,
      nodeIp: rng.pick(lb.snatIps),
      atUs: endUs,
      text: line(lb, {
        id,
        startUs,
        endUs,
        client: `${client.ip}:${rng.int(1024, 65535)}`,
        target: null,
        rpUs: 0,
        status,
        request: `GET https://${route.host}:443/ HTTP/1.1`,
        userAgent: client.userAgent,
        host: route.host,
        error,
        priority: 0,
      }),
    });
  }

  // One file per LB node and 5-minute interval (by the time the LB answered).
  const files = new Map<string, Line[]>();
  for (const l of lines.sort((a, b) => a.atUs - b.atUs)) {
    const end = Math.floor(l.atUs / INTERVAL_US) * INTERVAL_US + INTERVAL_US;
    const key = `${lbId(l.lb)}|${l.nodeIp}|${end}`;
    files.set(key, [...(files.get(key) ?? []), l]);
  }
  const report: AlbFile[] = [];
  for (const [key, ls] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const [id, nodeIp, endStr] = key.split('|') as [string, string, string];
    const end = Number(endStr);
    const d = isoUs(end);
    const stamp = `${d.slice(0, 4)}${d.slice(5, 7)}${d.slice(8, 10)}T${d.slice(11, 13)}${d.slice(14, 16)}Z`;
    const name =
      `${ALB_ACCOUNT}_elasticloadbalancing_${ALB_REGION}_${id.replace(/\//g, '.')}_${stamp}_${nodeIp}_` +
      `${hex(key, 8)}.log.gz`;
    const rel = `alb/AWSLogs/${ALB_ACCOUNT}/elasticloadbalancing/${ALB_REGION}/${d.slice(0, 4)}/${d.slice(5, 7)}/${d.slice(8, 10)}/${name}`;
    write(rel, gzipSync(`${ls.map((l) => l.text).join('\n')}\n`));
    // ALB publishes each interval's file a few minutes after it ends.
    const delayUs = rng.int(60, 300) * 1_000_000;
    report.push({
      path: rel,
      lb: id,
      node_ip: nodeIp,
      interval_end: d,
      available_at: isoUs(end + delayUs),
      records: ls.length,
    });
  }
  return { account: ALB_ACCOUNT, region: ALB_REGION, files: report, lb_only: lbOnly };
}

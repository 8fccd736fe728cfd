// What a simulation run is: the cluster's size and shape, the traffic, the
// time it covers, and the faults to inject. Everything the output depends on
// is in here, so (config) → bytes is a function.

export const FAULTS = ['late', 'skew', 'lost', 'hubble-lost', 'dup-ids', 'drift', 'churn', 'restart'] as const;
export type FaultName = (typeof FAULTS)[number];

/** What each fault's rate means. */
export const FAULT_MEANING: Readonly<Record<FaultName, string>> = {
  late: 'share of node log streams (container log files, flow files, OTLP batches) whose tail is delivered 1–15 minutes late',
  skew: 'share of nodes whose clock is off by 0.2–3 s',
  lost: 'share of records lost in missing segments (contiguous stretches of a node stream that never reach a file)',
  'hubble-lost': 'share of Hubble flows lost to ring-buffer overflow, reported by LostEvents',
  'dup-ids': 'share of external requests whose client re-sends an x-request-id or traceparent another request used',
  drift:
    'share of nodes that also land Parquet written by a newer agent: an extra column, a renamed column, an unknown schema_version',
  churn: 'pod replacements per pod per minute (a replacement on the same node takes the freed IP)',
  restart: 'share of nodes whose agent is restarted mid-run (scheduled in the manifest, done by the runner)',
};

export type Cni = 'cilium' | 'calico';
export type Routing = 'kube-proxy' | 'ebpf';

export interface SimConfig {
  readonly seed: number;
  readonly nodes: number;
  /** Simulated traffic time, seconds. */
  readonly durationS: number;
  /** External requests per second, cluster-wide. */
  readonly rate: number;
  /** Start of the simulated time, epoch µs. */
  readonly startUs: number;
  readonly cni: Cni;
  /** Service routing: kube-proxy DNAT, or Cilium's eBPF socket-LB (kube-proxy replacement). */
  readonly routing: Routing;
  /** Share of application workloads with an Istio sidecar. */
  readonly sidecarShare: number;
  /** Share of application workloads instrumented with an OpenTelemetry SDK (spans to the node agent). */
  readonly tracingShare: number;
  /** Share of application workloads whose inbound HTTP Hubble sees at L7 (an L7 policy is in place). */
  readonly l7Share: number;
  /** Share of external requests carrying a client `traceparent`. */
  readonly clientTraceShare: number;
  /** Share of application calls that fail (5xx) or that the app answers 4xx. */
  readonly errorRate: number;
  readonly notFoundRate: number;
  /** Share of upstream attempts that hang past the proxy's read timeout. */
  readonly timeoutRate: number;
  /** Share of upstream attempts refused at connect (a retry goes to another endpoint). */
  readonly connectErrorRate: number;
  /** Share of service-to-service edges a NetworkPolicy denies. */
  readonly policyDenyShare: number;
  /** Share of requests with a query string over the runtime's 16 KiB line limit (CRI partial lines). */
  readonly longLineShare: number;
  /** kubelet containerLogMaxSize, bytes. */
  readonly logMaxBytes: number;
  /** kubelet containerLogMaxFiles. */
  readonly logMaxFiles: number;
  /** Calico flow-log flush interval, seconds. */
  readonly calicoFlushS: number;
  /**
   * Cilium `monitor-aggregation`: `medium` (the default) reports a connection's
   * SYN/FIN packets only; `none` reports every packet, so each request on a
   * kept-alive connection has flows of its own.
   */
  readonly hubbleAggregation: 'medium' | 'none';
  readonly faults: Readonly<Partial<Record<FaultName, number>>>;
}

export const DEFAULT_START = '2026-11-25T07:00:00Z';

export const DEFAULTS: SimConfig = {
  seed: 1,
  nodes: 3,
  durationS: 60,
  rate: 20,
  startUs: Date.parse(DEFAULT_START) * 1000,
  cni: 'cilium',
  routing: 'kube-proxy',
  sidecarShare: 0.4,
  tracingShare: 0.5,
  l7Share: 0.2,
  clientTraceShare: 0.3,
  errorRate: 0.01,
  notFoundRate: 0.02,
  timeoutRate: 0.002,
  connectErrorRate: 0.005,
  policyDenyShare: 0.05,
  longLineShare: 0.002,
  logMaxBytes: 10 * 1024 * 1024,
  logMaxFiles: 5,
  calicoFlushS: 15,
  hubbleAggregation: 'medium',
  faults: {},
};

export function makeConfig(overrides: Partial<SimConfig> = {}): SimConfig {
  const cfg: SimConfig = { ...DEFAULTS, ...overrides, faults: { ...(overrides.faults ?? {}) } };
  validate(cfg);
  return cfg;
}

function validate(c: SimConfig): void {
  const fail = (m: string) => {
    throw new Error(`invalid simulation config: ${m}`);
  };
  if (!Number.isInteger(c.seed) || c.seed < 0) fail('seed must be a non-negative integer');
  if (!Number.isInteger(c.nodes) || c.nodes < 2 || c.nodes > 250) fail('nodes must be an integer in 2..250');
  if (!(c.durationS > 0) || c.durationS > 24 * 3600) fail('duration must be in (0, 24h]');
  if (!(c.rate > 0) || c.rate > 20_000) fail('rate must be in (0, 20000] requests/s');
  if (!Number.isSafeInteger(c.startUs) || c.startUs <= 0) fail('start must be a time after 1970');
  if (c.cni !== 'cilium' && c.cni !== 'calico') fail("cni must be 'cilium' or 'calico'");
  if (c.routing !== 'kube-proxy' && c.routing !== 'ebpf') fail("routing must be 'kube-proxy' or 'ebpf'");
  if (c.cni === 'calico' && c.routing === 'ebpf') fail('eBPF socket-LB routing is simulated for Cilium only');
  for (const k of [
    'sidecarShare',
    'tracingShare',
    'l7Share',
    'clientTraceShare',
    'errorRate',
    'notFoundRate',
    'timeoutRate',
    'connectErrorRate',
    'policyDenyShare',
    'longLineShare',
  ] as const)
    if (!(c[k] >= 0 && c[k] <= 1)) fail(`${k} must be in [0, 1]`);
  if (c.hubbleAggregation !== 'medium' && c.hubbleAggregation !== 'none')
    fail("hubble aggregation must be 'medium' or 'none'");
  if (c.logMaxBytes < 64 * 1024) fail('log max size must be at least 64 KiB');
  if (!Number.isInteger(c.logMaxFiles) || c.logMaxFiles < 2) fail('log max files must be an integer ≥ 2');
  for (const [k, v] of Object.entries(c.faults)) {
    if (!(FAULTS as readonly string[]).includes(k)) fail(`unknown fault '${k}' (known: ${FAULTS.join(', ')})`);
    if (!(typeof v === 'number' && v >= 0 && (k === 'churn' ? v <= 10 : v <= 1)))
      fail(`fault '${k}' rate must be in [0, ${k === 'churn' ? 10 : 1}]`);
  }
}

/** `late=0.1,skew=0.3,churn` (a bare name means its default rate). */
export function parseFaults(text: string): Partial<Record<FaultName, number>> {
  const defaults: Record<FaultName, number> = {
    late: 0.1,
    skew: 0.34,
    lost: 0.01,
    'hubble-lost': 0.01,
    'dup-ids': 0.01,
    drift: 0.34,
    churn: 0.2,
    restart: 0.34,
  };
  const out: Partial<Record<FaultName, number>> = {};
  if (text.trim() === '' || text === 'none') return out;
  const names = text === 'all' ? FAULTS.map((f) => f as string) : text.split(',');
  for (const part of names) {
    const [name, rate] = part.trim().split('=') as [string, string | undefined];
    if (!(FAULTS as readonly string[]).includes(name))
      throw new Error(`unknown fault '${name}' (known: ${FAULTS.join(', ')})`);
    const v = rate === undefined ? defaults[name as FaultName] : Number(rate);
    if (!Number.isFinite(v)) throw new Error(`fault '${name}': '${rate}' is not a number`);
    out[name as FaultName] = v;
  }
  return out;
}

/** `90`, `90s`, `5m`, `1h` → seconds. */
export function parseDurationS(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new Error(`'${text}' is not a duration (e.g. 90s, 5m, 1h)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return unit === 'ms' ? n / 1000 : unit === 's' ? n : unit === 'm' ? n * 60 : n * 3600;
}

// Ingress and service-mesh access logs from the node's container log files:
// the tailer follows the kubelet's files, the parsers read ingress-nginx and
// Envoy/Istio lines, and fields.ts maps them into `http_requests` rows, with
// pod metadata from the file path. Every line ends up counted: as a row, as
// a skipped non-access line by kind, or as a malformed access line (a drop).
import { hash } from 'node:crypto';
import { matchesGlob } from 'node:path';
import { nowUs, parseTimestampUs } from '../../contract/time.ts';
import { RateLimitedLog } from '../../ops/rate-limited-log.ts';
import type { Source, SourceContext, SourceLag, TableRecord } from '../../pipeline/source.ts';
import type { LogLine } from '../tail/decoders.ts';
import { type TailedFile, Tailer, tailerOptionsFrom } from '../tail/tailer.ts';
import type { ContainerLogsConfig, ParserRuleConfig } from './config.ts';
import { type PodRef, podRefOf } from './kubelet-path.ts';
import { EnvoyParser } from './parsers/envoy.ts';
import { buildRow, type Fields, type RowContext } from './parsers/fields.ts';
import { NginxParser } from './parsers/nginx.ts';
import type { AccessLogParser } from './parsers/outcome.ts';

interface Rule {
  readonly config: ParserRuleConfig;
  readonly parser: AccessLogParser;
}

interface FileMeta {
  readonly pod: PodRef;
  readonly rule: Rule;
  /** Role for rule role `auto` on Envoy: whether the pod is a gateway. */
  readonly gateway: boolean;
}

const anyMatch = (value: string, patterns: readonly string[]) => patterns.some((p) => matchesGlob(value, p));
const selected = (value: string, include: readonly string[], exclude: readonly string[]) =>
  (include.length === 0 || anyMatch(value, include)) && !anyMatch(value, exclude);

const SAMPLES_AT_ONCE = 5;

type Writable<T> = { -readonly [K in keyof T]: T[K] };

/** A malformed line for the log: cut, and without query strings. */
export function redactSample(line: string): string {
  return line.slice(0, 200).replace(/\?[^\s"]*/g, '?…');
}

export class ContainerLogsSource implements Source {
  readonly kind = 'pull';
  readonly name: string;
  private readonly config: ContainerLogsConfig;
  private readonly rules: Rule[];
  private readonly tailer: Tailer<FileMeta>;
  private ctx!: SourceContext;
  private samples!: RateLimitedLog;
  private samplesLogged = 0;

  constructor(config: ContainerLogsConfig) {
    this.config = config;
    this.name = config.name;
    this.rules = config.parsers.map((c) => ({
      config: c,
      parser: c.parser === 'ingress-nginx' ? new NginxParser(c.log_format) : new EnvoyParser(c.log_format),
    }));
    this.tailer = new Tailer<FileMeta>({
      name: config.name,
      table: 'http_requests',
      include: config.include,
      exclude: config.exclude,
      format: config.format,
      select: (path, realPath) => this.select(path, realPath),
      consume: (file, lines) => this.consume(file, lines),
      ...tailerOptionsFrom(config),
    });
  }

  lag(): SourceLag {
    return this.tailer.lag();
  }

  run(ctx: SourceContext, mode: 'follow' | 'drain'): Promise<void> {
    this.ctx = ctx;
    this.samples = new RateLimitedLog(ctx.logger, 60_000);
    return this.tailer.run(ctx, mode);
  }

  private select(path: string, realPath: string): { meta: FileMeta } | undefined {
    const pod = podRefOf(path, realPath);
    const c = this.config;
    if (!pod) return undefined;
    if (!selected(pod.namespace, c.namespaces, c.exclude_namespaces)) return undefined;
    if (!selected(pod.pod, c.pods, c.exclude_pods)) return undefined;
    if (!selected(pod.container, c.containers, c.exclude_containers)) return undefined;
    const rule = this.rules.find(
      (r) =>
        anyMatch(pod.container, r.config.containers) &&
        anyMatch(pod.namespace, r.config.namespaces) &&
        anyMatch(pod.pod, r.config.pods),
    );
    if (!rule) return undefined;
    return { meta: { pod, rule, gateway: anyMatch(pod.pod, rule.config.gateway_pods) } };
  }

  private consume(file: TailedFile<FileMeta>, lines: readonly LogLine[]): TableRecord[] {
    const { ctx } = this;
    const { pod, rule, gateway } = file.meta;
    const parser = rule.parser;
    const out: TableRecord[] = [];
    const kinds = new Map<string, number>();
    const count = (kind: string) => kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    let access = 0;
    let malformed = 0;
    let newest: number | undefined;
    const ids = recordIds(ctx.node, this.name, file.dev, file.ino, file.head);
    // One context for the read's rows, its per-line parts set before each row is built (buildRow keeps none of it).
    const rowContext: Writable<RowContext> = {
      recordId: '',
      observedUs: nowUs(),
      node: ctx.node,
      source: this.name,
      proxy: parser.proxy,
      role: '',
      namespace: pod.namespace,
      pod: pod.pod,
      podUid: pod.uid || undefined,
      container: pod.container,
      fallbackTimeUs: undefined,
      queryHasher: ctx.queryHasher,
    };
    for (const line of lines) {
      const text = line.text.trimEnd();
      if (!text) {
        count('other');
        continue;
      }
      const outcome = parser.parse(text);
      if (outcome.kind === 'skip') {
        count(outcome.what);
        continue;
      }
      let reason: string;
      if (outcome.kind === 'access') {
        const fields = outcome.fields;
        const needsRuntimeTime = fields.end_time === undefined && fields.start_time === undefined;
        rowContext.fallbackTimeUs = needsRuntimeTime && line.time ? parseTimestampUs(line.time) : undefined;
        rowContext.recordId = ids(line.offset);
        rowContext.role = roleOf(rule.config, parser.proxy, fields, gateway);
        const result = buildRow(fields, rowContext);
        if ('row' in result) {
          out.push({ table: 'http_requests', row: result.row });
          access++;
          if (newest === undefined || result.row.event_time > newest) newest = result.row.event_time;
          continue;
        }
        reason = result.error;
      } else reason = outcome.reason;
      malformed++;
      count('malformed');
      this.sample(file, line, text, reason);
    }
    if (access) kinds.set('access', access);
    for (const [kind, n] of kinds)
      ctx.metrics.containerLogLines.inc({ source: this.name, parser: parser.proxy, kind }, n);
    if (malformed) ctx.metrics.drop('http_requests', this.name, 'malformed_access_line', malformed);
    if (newest !== undefined) this.tailer.observeEventTime(newest);
    return out;
  }

  private sample(file: TailedFile<FileMeta>, line: LogLine, text: string, reason: string): void {
    const fields: Record<string, unknown> = {
      path: file.path,
      offset: line.offset,
      parser: file.meta.rule.parser.proxy,
      reason,
      length: text.length,
    };
    if (this.config.log_malformed_samples) fields.sample = redactSample(text);
    if (this.samplesLogged < SAMPLES_AT_ONCE) {
      this.samplesLogged++;
      this.ctx.logger.warn(fields, 'malformed access line dropped');
    } else this.samples.warn(`malformed:${file.meta.rule.parser.proxy}`, fields, 'malformed access line dropped');
  }
}

/**
 * `recordId(node, source, dev, ino, head, offset)` for the lines of one file:
 * the same digest over the same bytes, with the file's part joined once.
 */
export function recordIds(...parts: readonly (string | number)[]): (offset: number) => string {
  let prefix = '';
  for (const p of parts) {
    const s = String(p);
    prefix += `${s.length}:${s}`;
  }
  return (offset) => {
    const s = String(offset);
    return hash('sha256', `${prefix}${s.length}:${s}`, 'hex').slice(0, 32);
  };
}

/** The proxy's role on the request path. */
export function roleOf(rule: ParserRuleConfig, proxy: string, fields: Fields, gateway: boolean): string {
  if (rule.role !== 'auto') return rule.role;
  if (proxy === 'ingress-nginx') return 'ingress';
  if (gateway) return 'gateway';
  const cluster = fields.up_cluster ?? '';
  if (cluster.startsWith('inbound|') || cluster.startsWith('InboundPassthroughCluster')) return 'sidecar_inbound';
  if (cluster.startsWith('outbound|') || cluster === 'PassthroughCluster' || cluster === 'BlackHoleCluster')
    return 'sidecar_outbound';
  return 'unknown';
}

// Maps Kubernetes objects into contract rows. This is the privacy boundary of
// the source: each mapper copies named fields only, so anything not picked
// here — env values, command lines, volumes, ConfigMap/Secret content,
// annotations off the allow-list, managedFields — never reaches a row.
// Objects come as raw JSON (watch events and our own LISTs), but times are
// also accepted as Date so a typed client object maps the same way.
import type {
  Container,
  ContainerPort,
  Endpoint,
  EndpointPort,
  K8sEventRow,
  K8sObjectRow,
  ServicePort,
} from '../../contract/generated.ts';
import { SCHEMA_VERSION } from '../../contract/generated.ts';
import { recordId } from '../../contract/record-id.ts';
import { parseTimestampUs } from '../../contract/time.ts';

type Json = Record<string, unknown>;

/** The object part of a k8s_objects row: everything but the change and its times. */
export type ObjectState = Omit<
  K8sObjectRow,
  'record_id' | 'event_time' | 'observed_time' | 'node' | 'source' | 'schema_version' | 'change_type'
>;

export type ObjectKind = 'Pod' | 'Service' | 'EndpointSlice' | 'Node';
export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'SNAPSHOT';

export type Mapped<T> = { ok: true; value: T } | { ok: false; problem: string };

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

const obj = (v: unknown): Json | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const bool = (v: unknown): boolean | undefined => (typeof v === 'boolean' ? v : undefined);
const int32 = (v: unknown): number | undefined =>
  Number.isInteger(v) && (v as number) >= -2147483648 && (v as number) <= 2147483647 ? (v as number) : undefined;
const port = (v: unknown): number | undefined => {
  const n = int32(v);
  return n !== undefined && n >= 0 && n <= 65535 ? n : undefined;
};

/** Epoch µs from an RFC 3339 string (seconds or MicroTime) or a Date. */
export function timeUs(v: unknown): number | undefined {
  if (typeof v === 'string') return parseTimestampUs(v);
  if (v instanceof Date) {
    const ms = v.getTime();
    return Number.isNaN(ms) ? undefined : ms * 1000;
  }
  return undefined;
}

function globs(patterns: readonly string[]): RegExp | undefined {
  if (patterns.length === 0) return undefined;
  const alternatives = patterns.map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, '\\$&').replace(/\*/g, '.*'));
  return new RegExp(`^(?:${alternatives.join('|')})$`);
}

/** Decides which label and annotation keys survive. */
export class MetadataFilter {
  private readonly labelAllow: RegExp | undefined;
  private readonly labelDeny: RegExp | undefined;
  private readonly annotationAllow: RegExp | undefined;

  constructor(options: {
    labelAllow: readonly string[];
    labelDeny: readonly string[];
    annotationAllow: readonly string[];
  }) {
    this.labelAllow = globs(options.labelAllow);
    this.labelDeny = globs(options.labelDeny);
    this.annotationAllow = globs(options.annotationAllow);
  }

  labels(v: unknown): Record<string, string> | undefined {
    const source = obj(v);
    if (!source || !this.labelAllow) return undefined;
    let out: Record<string, string> | undefined;
    for (const [k, val] of Object.entries(source)) {
      if (typeof val !== 'string' || !this.labelAllow.test(k) || this.labelDeny?.test(k)) continue;
      out ??= {};
      out[k] = val;
    }
    return out;
  }

  annotations(v: unknown): Record<string, string> | undefined {
    const source = obj(v);
    if (!source || !this.annotationAllow) return undefined;
    let out: Record<string, string> | undefined;
    for (const [k, val] of Object.entries(source)) {
      if (typeof val !== 'string' || k === LAST_APPLIED || !this.annotationAllow.test(k)) continue;
      out ??= {};
      out[k] = val;
    }
    return out;
  }
}

/** Identity fields every object needs; anything without them cannot be tracked. */
function identity(o: Json, kind: ObjectKind, filter: MetadataFilter): Mapped<ObjectState> {
  const meta = obj(o.metadata);
  if (!meta) return { ok: false, problem: `${kind} without metadata` };
  const uid = str(meta.uid);
  const name = str(meta.name);
  const rv = str(meta.resourceVersion);
  if (!uid || !name || !rv) return { ok: false, problem: `${kind} without uid, name or resourceVersion` };
  const state: Writable<ObjectState> = { kind, uid, name, resource_version: rv };
  const namespace = str(meta.namespace);
  if (namespace) state.namespace = namespace;
  const labels = filter.labels(meta.labels);
  if (labels) state.labels = labels;
  const annotations = filter.annotations(meta.annotations);
  if (annotations) state.annotations = annotations;
  const created = timeUs(meta.creationTimestamp);
  if (created !== undefined) state.creation_time = created;
  const deleted = timeUs(meta.deletionTimestamp);
  if (deleted !== undefined) state.deletion_time = deleted;
  return { ok: true, value: state };
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * The workload that owns a pod. A ReplicaSet created by a Deployment is named
 * `<deployment>-<pod-template-hash>` and its pods carry that hash as a label,
 * so the Deployment is resolved without watching ReplicaSets.
 */
export function ownerWorkload(meta: Json): { kind: string; name: string } | undefined {
  const refs = arr(meta.ownerReferences).map(obj);
  const controller = refs.find((r) => r?.controller === true) ?? undefined;
  const kind = str(controller?.kind);
  const name = str(controller?.name);
  if (!kind || !name) return undefined;
  if (kind === 'ReplicaSet') {
    const hash = str(obj(meta.labels)?.['pod-template-hash']);
    if (hash && name.length > hash.length + 1 && name.endsWith(`-${hash}`))
      return { kind: 'Deployment', name: name.slice(0, -hash.length - 1) };
  }
  return { kind, name };
}

/** `containerd://abc…` → `abc…` */
export function stripRuntime(id: string): string {
  const i = id.indexOf('://');
  return i >= 0 ? id.slice(i + 3) : id;
}

function containerPorts(v: unknown): ContainerPort[] {
  const out: ContainerPort[] = [];
  for (const p of arr(v).map(obj)) {
    const n = port(p?.containerPort);
    if (!p || n === undefined) continue;
    const name = str(p.name);
    out.push({ ...(name ? { name } : {}), port: n, protocol: str(p.protocol) ?? 'TCP' });
  }
  return out;
}

function containers(spec: Json, status: Json | undefined): Container[] {
  const statusByName = new Map<string, Json>();
  for (const s of [...arr(status?.containerStatuses), ...arr(status?.initContainerStatuses)].map(obj)) {
    const name = str(s?.name);
    if (s && name) statusByName.set(name, s);
  }
  const out: Container[] = [];
  const add = (c: Json | undefined, isInit: boolean) => {
    const name = str(c?.name);
    if (!c || !name) return;
    const s = statusByName.get(name);
    const id = str(s?.containerID);
    const image = str(c.image);
    const ready = bool(s?.ready);
    out.push({
      name,
      ...(id ? { container_id: stripRuntime(id) } : {}),
      ...(image ? { image } : {}),
      ...(ready === undefined ? {} : { ready }),
      is_init: isInit,
      ports: containerPorts(c.ports),
    });
  };
  for (const c of arr(spec.containers)) add(obj(c), false);
  // Only init containers that keep running (native sidecars) carry traffic.
  for (const c of arr(spec.initContainers).map(obj)) if (c?.restartPolicy === 'Always') add(c, true);
  return out;
}

export function mapPod(o: Json, filter: MetadataFilter): Mapped<ObjectState> {
  const id = identity(o, 'Pod', filter);
  if (!id.ok) return id;
  const state = id.value as Writable<ObjectState>;
  const meta = obj(o.metadata)!;
  const spec = obj(o.spec) ?? {};
  const status = obj(o.status);
  const owner = ownerWorkload(meta);
  if (owner) {
    state.owner_kind = owner.kind;
    state.owner_name = owner.name;
  }
  const ips = arr(status?.podIPs)
    .map((p) => str(obj(p)?.ip))
    .filter((ip): ip is string => ip !== undefined);
  const podIP = str(status?.podIP);
  state.pod_ips = ips.length ? ips : podIP ? [podIP] : [];
  const hostIP = str(status?.hostIP);
  if (hostIP) state.host_ip = hostIP;
  const nodeName = str(spec.nodeName);
  if (nodeName) state.node_name = nodeName;
  const phase = str(status?.phase);
  if (phase) state.phase = phase;
  const start = timeUs(status?.startTime);
  if (start !== undefined) state.pod_start_time = start;
  const readyCondition = arr(status?.conditions)
    .map(obj)
    .find((c) => c?.type === 'Ready');
  if (readyCondition?.status === 'True') state.ready = true;
  else if (readyCondition?.status === 'False') state.ready = false;
  state.host_network = spec.hostNetwork === true;
  state.containers = containers(spec, status);
  return { ok: true, value: state };
}

export function mapService(o: Json, filter: MetadataFilter): Mapped<ObjectState> {
  const id = identity(o, 'Service', filter);
  if (!id.ok) return id;
  const state = id.value as Writable<ObjectState>;
  const spec = obj(o.spec) ?? {};
  state.service_type = str(spec.type) ?? 'ClusterIP';
  const ips = arr(spec.clusterIPs).filter((ip): ip is string => typeof ip === 'string' && ip !== '');
  const clusterIP = str(spec.clusterIP);
  state.cluster_ips = ips.length ? ips : clusterIP ? [clusterIP] : [];
  const ports: ServicePort[] = [];
  for (const p of arr(spec.ports).map(obj)) {
    const n = port(p?.port);
    if (!p || n === undefined) continue;
    const target = p.targetPort;
    const targetPort = typeof target === 'number' ? String(target) : str(target);
    const nodePort = port(p.nodePort);
    const name = str(p.name);
    const app = str(p.appProtocol);
    ports.push({
      ...(name ? { name } : {}),
      protocol: str(p.protocol) ?? 'TCP',
      port: n,
      ...(targetPort ? { target_port: targetPort } : {}),
      ...(nodePort ? { node_port: nodePort } : {}),
      ...(app ? { app_protocol: app } : {}),
    });
  }
  state.service_ports = ports;
  const selector = obj(spec.selector);
  if (selector) {
    const sel: Record<string, string> = {};
    for (const [k, v] of Object.entries(selector)) if (typeof v === 'string') sel[k] = v;
    state.selector = sel;
  }
  const etp = str(spec.externalTrafficPolicy);
  if (etp) state.external_traffic_policy = etp;
  const itp = str(spec.internalTrafficPolicy);
  if (itp) state.internal_traffic_policy = itp;
  state.load_balancer_ips = arr(obj(obj(o.status)?.loadBalancer)?.ingress)
    .map((i) => str(obj(i)?.ip))
    .filter((ip): ip is string => ip !== undefined);
  return { ok: true, value: state };
}

export function mapEndpointSlice(o: Json, filter: MetadataFilter): Mapped<ObjectState> {
  const id = identity(o, 'EndpointSlice', filter);
  if (!id.ok) return id;
  const state = id.value as Writable<ObjectState>;
  const service = str(obj(obj(o.metadata)?.labels)?.['kubernetes.io/service-name']);
  if (service) state.service_name = service;
  const addressType = str(o.addressType);
  if (addressType) state.address_type = addressType;
  const endpoints: Endpoint[] = [];
  for (const e of arr(o.endpoints).map(obj)) {
    if (!e) continue;
    const conditions = obj(e.conditions);
    const target = obj(e.targetRef);
    const ep: Writable<Endpoint> = {
      addresses: arr(e.addresses).filter((a): a is string => typeof a === 'string' && a !== ''),
    };
    const ready = bool(conditions?.ready);
    if (ready !== undefined) ep.ready = ready;
    const serving = bool(conditions?.serving);
    if (serving !== undefined) ep.serving = serving;
    const terminating = bool(conditions?.terminating);
    if (terminating !== undefined) ep.terminating = terminating;
    const tk = str(target?.kind);
    if (tk) ep.target_kind = tk;
    const tns = str(target?.namespace);
    if (tns) ep.target_namespace = tns;
    const tn = str(target?.name);
    if (tn) ep.target_name = tn;
    const tu = str(target?.uid);
    if (tu) ep.target_uid = tu;
    const node = str(e.nodeName);
    if (node) ep.node_name = node;
    const zone = str(e.zone);
    if (zone) ep.zone = zone;
    endpoints.push(ep);
  }
  state.endpoints = endpoints;
  const ports: EndpointPort[] = [];
  for (const p of arr(o.ports).map(obj)) {
    if (!p) continue;
    const ep: Writable<EndpointPort> = {};
    const name = str(p.name);
    if (name) ep.name = name;
    const protocol = str(p.protocol);
    if (protocol) ep.protocol = protocol;
    const n = port(p.port);
    if (n !== undefined) ep.port = n;
    const app = str(p.appProtocol);
    if (app) ep.app_protocol = app;
    ports.push(ep);
  }
  state.endpoint_ports = ports;
  return { ok: true, value: state };
}

export function mapNode(o: Json, filter: MetadataFilter): Mapped<ObjectState> {
  const id = identity(o, 'Node', filter);
  if (!id.ok) return id;
  const state = id.value as Writable<ObjectState>;
  const spec = obj(o.spec) ?? {};
  state.node_internal_ips = arr(obj(o.status)?.addresses)
    .map(obj)
    .filter((a) => a?.type === 'InternalIP')
    .map((a) => str(a?.address))
    .filter((ip): ip is string => ip !== undefined);
  const cidrs = arr(spec.podCIDRs).filter((c): c is string => typeof c === 'string' && c !== '');
  const cidr = str(spec.podCIDR);
  state.pod_cidrs = cidrs.length ? cidrs : cidr ? [cidr] : [];
  return { ok: true, value: state };
}

export const MAPPERS: Record<ObjectKind, (o: Json, filter: MetadataFilter) => Mapped<ObjectState>> = {
  Pod: mapPod,
  Service: mapService,
  EndpointSlice: mapEndpointSlice,
  Node: mapNode,
};

/**
 * A key for "did anything we keep change": resourceVersion moves on every
 * status heartbeat, most of which touch no column we keep.
 */
export function contentKey(state: ObjectState): string {
  const { resource_version: _rv, ...rest } = state;
  return JSON.stringify(rest);
}

export interface RowContext {
  readonly node: string;
  readonly source: string;
}

/**
 * A k8s_objects row. Snapshot rows carry their time in the id: an unchanged
 * object appears in every snapshot, and each is separate evidence that it
 * still existed then.
 */
export function objectRow(
  state: ObjectState,
  change: ChangeType,
  eventUs: number,
  observedUs: number,
  rc: RowContext,
): K8sObjectRow {
  const id =
    change === 'SNAPSHOT'
      ? recordId(state.uid, state.resource_version, change, eventUs)
      : recordId(state.uid, state.resource_version, change);
  return {
    ...state,
    record_id: id,
    event_time: eventUs,
    observed_time: observedUs,
    node: rc.node,
    source: rc.source,
    schema_version: SCHEMA_VERSION,
    change_type: change,
  };
}

// --- Events -----------------------------------------------------------------

const SECRET_KEY =
  '[A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credential|auth)[A-Za-z0-9_.-]*';
const REDACTIONS: readonly [RegExp, string][] = [
  // user:password@ in URLs
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/:@]+:[^\s/@]+@/gi, '$1[redacted]@'],
  // Authorization schemes
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [redacted]'],
  // key=value, key: value, "key":"value" where the key names a credential
  [
    new RegExp(
      String.raw`(${SECRET_KEY}["']?\s*[:=]\s*)(?!\[redacted\]|Bearer\s|Basic\s)("[^"]*"|'[^']*'|[^\s,;&)}\]]+)`,
      'gi',
    ),
    '$1[redacted]',
  ],
  // AWS access key ids
  [/\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g, '[redacted]'],
];

/** Blanks values that look like credentials; the operational text around them stays. */
export function redactMessage(message: string): string {
  let out = message;
  for (const [pattern, replacement] of REDACTIONS) out = out.replace(pattern, replacement);
  return out;
}

export const EVENT_MESSAGE_MAX = 1024;

export interface EventOptions {
  readonly message: 'redact' | 'keep' | 'drop';
}

/**
 * Both Event APIs: core/v1 (`involvedObject`, `message`, `source`, `count`,
 * `firstTimestamp`/`lastTimestamp`) and events.k8s.io/v1 (`regarding`,
 * `note`, `series`, `deprecated*`).
 */
export function mapEvent(o: Json, observedUs: number, options: EventOptions, rc: RowContext): Mapped<K8sEventRow> {
  const meta = obj(o.metadata);
  const uid = str(meta?.uid);
  const name = str(meta?.name);
  const rv = str(meta?.resourceVersion);
  if (!meta || !uid || !name || !rv) return { ok: false, problem: 'Event without uid, name or resourceVersion' };
  const series = obj(o.series);
  const involved = obj(o.regarding) ?? obj(o.involvedObject);
  const source = obj(o.deprecatedSource) ?? obj(o.source);
  const first = timeUs(o.firstTimestamp) ?? timeUs(o.deprecatedFirstTimestamp);
  const last = timeUs(o.lastTimestamp) ?? timeUs(o.deprecatedLastTimestamp);
  const seriesLast = timeUs(series?.lastObservedTime);
  const eventTime = timeUs(o.eventTime);
  const when = last ?? seriesLast ?? eventTime ?? first ?? timeUs(meta.creationTimestamp) ?? observedUs;
  const count = int32(series?.count) ?? int32(o.count) ?? int32(o.deprecatedCount);
  const rawMessage = str(o.note) ?? str(o.message);
  let message: string | undefined;
  if (rawMessage && options.message !== 'drop') {
    const bounded = rawMessage.length > EVENT_MESSAGE_MAX * 2 ? rawMessage.slice(0, EVENT_MESSAGE_MAX * 2) : rawMessage;
    message = options.message === 'redact' ? redactMessage(bounded) : bounded;
    if (message.length > EVENT_MESSAGE_MAX) message = message.slice(0, EVENT_MESSAGE_MAX);
  }
  const row: Writable<K8sEventRow> = {
    record_id: recordId(uid, rv),
    event_time: when,
    observed_time: observedUs,
    node: rc.node,
    source: rc.source,
    schema_version: SCHEMA_VERSION,
    uid,
    name,
    resource_version: rv,
  };
  const set = <K extends keyof K8sEventRow>(k: K, v: K8sEventRow[K] | undefined) => {
    if (v !== undefined) row[k] = v;
  };
  set('namespace', str(meta.namespace));
  set('reason', str(o.reason));
  set('type', str(o.type));
  set('message', message);
  set('involved_kind', str(involved?.kind));
  set('involved_namespace', str(involved?.namespace));
  set('involved_name', str(involved?.name));
  set('involved_uid', str(involved?.uid));
  set('involved_field_path', str(involved?.fieldPath));
  set('count', count);
  set('first_time', first ?? eventTime);
  set('last_time', last ?? seriesLast ?? eventTime);
  set('reporting_component', str(o.reportingController) ?? str(o.reportingComponent) ?? str(source?.component));
  set('reporting_instance', str(o.reportingInstance) ?? str(source?.host));
  set('action', str(o.action));
  return { ok: true, value: row };
}

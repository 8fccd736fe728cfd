// Traffic through the simulated cluster. External clients reach an ingress
// controller through its cloud load balancer; the controller proxies to the
// route's Service — to an endpoint it picks itself, or to the ClusterIP that
// kube-proxy or Cilium's socket-LB translates — retrying another endpoint
// when a try is refused or times out; the target pod's sidecar and app
// handle it and call further Services. Connections are kept alive and reused
// one request at a time. Every step is recorded as the component that sees
// it would record it, and as ground truth.
import type { SimConfig } from './config.ts';
import { hostPort } from './ip.ts';
import { type Client, type Cluster, fqdn, type Pod, podAt, type Route, readyPods, type Service } from './model.ts';
import type {
  Connection,
  EnvoyRecord,
  LogRecord,
  NetEvent,
  NetEventKind,
  SpanRecord,
  Tag,
  UpstreamTry,
} from './observations.ts';
import type { Rng } from './rng.ts';
import { nginxErrorTime } from './time.ts';
import { type Outcome, podRef, type Routing, type TruthAttempt, type TruthCall, type TruthRequest } from './truth.ts';

const MS = 1000;
const S = 1_000_000;

export interface TrafficResult {
  readonly requests: TruthRequest[];
  readonly logs: LogRecord[];
  readonly net: NetEvent[];
  readonly connections: Connection[];
  readonly spans: SpanRecord[];
}

interface Incoming {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly authority: string;
  readonly requestId: string | undefined;
  readonly trace: { readonly traceId: string; readonly spanId: string } | undefined;
  readonly userAgent: string;
  readonly forwardedFor: string | undefined;
  readonly bytesIn: number;
  /** The client address the ingress saw (for its error log). */
  readonly clientIp: string | undefined;
}

interface Served {
  readonly status: number;
  readonly endUs: number;
  readonly bytesOut: number;
}

interface RequestCtx {
  readonly truth: TruthRequest;
  downstreamCount: number;
}

/** Per-source-address ephemeral ports, never two open connections on one port. */
class Ports {
  private readonly next = new Map<string, number>();
  private readonly rng: Rng;

  constructor(rng: Rng) {
    this.rng = rng;
  }

  take(ip: string): number {
    let p = this.next.get(ip) ?? this.rng.int(32768, 60999);
    p += this.rng.int(1, 7);
    if (p > 60999) p = 32768 + (p - 61000);
    this.next.set(ip, p);
    return p;
  }
}

export function generateTraffic(cluster: Cluster, cfg: SimConfig, root: Rng, dupIdRate: number): TrafficResult {
  return new TrafficSim(cluster, cfg, root, dupIdRate).run();
}

class TrafficSim {
  private readonly cluster: Cluster;
  private readonly cfg: SimConfig;
  private readonly arrivals: Rng;
  private readonly choice: Rng;
  private readonly ids: Rng;
  private readonly timing: Rng;
  private readonly faults: Rng;
  private readonly dupIdRate: number;
  private readonly ports: Ports;
  private readonly pools = new Map<string, Connection[]>();
  private readonly out: TrafficResult = { requests: [], logs: [], net: [], connections: [], spans: [] };
  private connSeq = 0;
  private readonly seenRequestIds: string[] = [];
  private readonly seenTraceIds: string[] = [];
  private readonly nginxConnSerial = new Map<Pod, number>();

  constructor(cluster: Cluster, cfg: SimConfig, root: Rng, dupIdRate: number) {
    this.cluster = cluster;
    this.cfg = cfg;
    this.arrivals = root.fork('arrivals');
    this.choice = root.fork('choice');
    this.ids = root.fork('ids');
    this.timing = root.fork('timing');
    this.faults = root.fork('dup-ids');
    this.dupIdRate = dupIdRate;
    this.ports = new Ports(root.fork('ports'));
  }

  run(): TrafficResult {
    const { cluster, cfg } = this;
    const weights = cluster.routes.map((r) => (r.service.workload.tier === 0 ? 3 : 1));
    let t = cluster.startUs;
    let n = 0;
    for (;;) {
      t += Math.max(1, Math.round(this.arrivals.exp(S / cfg.rate)));
      if (t >= cluster.endUs) break;
      const route = cluster.routes[this.choice.weighted(weights)]!;
      const client = this.choice.pick(cluster.clients);
      this.external(`r-${String(++n).padStart(6, '0')}`, t, route, client);
    }
    this.closeConnections();
    this.out.net.sort((a, b) => a.atUs - b.atUs);
    return this.out;
  }

  // --- one external request ---------------------------------------------------------------

  private external(id: string, t0: number, route: Route, client: Client): void {
    const { cluster, choice, timing } = this;
    const lb = cluster.lbs.find((l) => l.controller === route.controller)!;
    const ingressPods = readyPods(cluster, lb.service.workload, t0);
    const ingress = choice.pick(ingressPods);
    const w = route.service.workload;
    const template = choice.pick(w.routes);
    const path = template.replace(/\{(\w+)\}/g, () => String(choice.int(1, 99_999)));
    const method = template.includes('{') || choice.chance(0.7) ? 'GET' : choice.pick(['POST', 'PUT', 'GET']);
    let query = '';
    if (choice.chance(this.cfg.longLineShare)) query = `?utm_content=${'x'.repeat(17_000 + choice.int(0, 3000))}`;
    else if (choice.chance(0.15)) query = `?page=${choice.int(1, 9)}&token=${this.ids.hex(24)}`;

    // Ids the client sends; a misbehaving client re-sends one it used before.
    let clientRequestId = client.sendsRequestId ? this.ids.uuid() : undefined;
    let clientTrace = client.sendsTraceparent ? { traceId: this.ids.id(32), spanId: this.ids.id(16) } : undefined;
    const dup = this.faults.chance(this.dupIdRate);
    const dupNotes: string[] = [];
    if (dup && this.seenRequestIds.length && route.controller === 'ingress-nginx') {
      clientRequestId = this.faults.pick(this.seenRequestIds);
      dupNotes.push('dup-ids:request_id');
    } else if (dup && this.seenTraceIds.length) {
      clientTrace = { traceId: this.faults.pick(this.seenTraceIds), spanId: this.ids.id(16) };
      dupNotes.push('dup-ids:trace_id');
    }

    // Client → LB → ingress pod, over a kept-alive connection of the LB.
    const lbAt = t0 + timing.int(300, 1500);
    const lbConn = this.connection(`lb:${lb.controller}>${ingress.ip}`, lbAt, () => ({
      src: { ip: choice.pick(lb.snatIps), pod: undefined },
      dstIp: ingress.ip,
      dstPort: ingress.workload.port,
      service: undefined,
      idleUs: 60 * S,
      refused: false,
    }));
    let t = lbAt + (lbConn.opened ? timing.int(100, 400) : 0);
    const ingressStart = t;
    // Envoy (the gateway) resets the request id of edge requests; ingress-nginx keeps the client's.
    const requestId = route.controller === 'ingress-nginx' ? (clientRequestId ?? this.ids.hex(32)) : this.ids.uuid();
    this.seenRequestIds.push(requestId);
    if (clientTrace) this.seenTraceIds.push(clientTrace.traceId);
    if (this.seenRequestIds.length > 500) this.seenRequestIds.shift();
    if (this.seenTraceIds.length > 500) this.seenTraceIds.shift();
    const bytesIn = 300 + choice.int(0, 900) + query.length;
    const incoming: Incoming = {
      method,
      path,
      query,
      authority: route.host,
      requestId,
      trace: clientTrace,
      userAgent: client.userAgent,
      forwardedFor: client.ip,
      bytesIn,
      clientIp: client.ip,
    };

    const svc = route.service;
    const byEndpoints = !route.serviceUpstream;
    const routing: Routing = byEndpoints
      ? 'endpoints_by_ingress'
      : this.cfg.routing === 'ebpf'
        ? 'ebpf_socket_lb'
        : 'kube_proxy_dnat';
    const truth: TruthRequest = {
      id,
      start: '',
      end: '',
      client: { ip: client.ip, port: choice.int(1024, 65535) },
      lb: { vip: lb.vip, ip: lbConn.conn.src.ip, port: lbConn.conn.src.port },
      ingress: { ...podRef(ingress, ingress.workload.container, ingress.workload.port), controller: route.controller },
      request_id: requestId,
      trace_id: clientTrace?.traceId ?? null,
      method,
      authority: route.host,
      path,
      status: 0,
      route: route.name,
      service: { namespace: svc.namespace, name: svc.name, cluster_ip: svc.clusterIp, port: svc.port },
      routing,
      attempts: [],
      target: null,
      downstream: [],
      evidence: {},
      faults: dupNotes,
    };
    const ctx: RequestCtx = { truth, downstreamCount: 0 };

    // Tries: ingress-nginx retries another endpoint on error or timeout (idempotent methods
    // for timeouts), up to 3 tries; the gateway retries once on connect failure.
    const maxTries = route.controller === 'ingress-nginx' ? 3 : 2;
    const tried = new Set<Pod>();
    const tries: UpstreamTry[] = [];
    let final: Served | undefined;
    let finalFlags = '-';
    let finalDetails = 'via_upstream';
    let lastTryStatus = 0;
    let lastUpstream: { addr: string; local: string } | undefined;
    let lastTryStart = t;
    for (let k = 1; k <= maxTries; k++) {
      const hop = `attempt-${k}`;
      const candidates = readyPods(this.cluster, svc.workload, t).filter((p) => !tried.has(p));
      if (byEndpoints && candidates.length === 0) break;
      const endpoint = byEndpoints ? choice.pick(candidates) : undefined;
      const dstIp = endpoint ? endpoint.ip : svc.clusterIp;
      const dstPort = endpoint ? svc.targetPort : svc.port;
      const refuse = choice.chance(this.cfg.connectErrorRate);
      const c = this.connection(
        `${ingress.uid}>${dstIp}:${dstPort}`,
        t,
        () => ({
          src: { ip: ingress.ip, pod: ingress },
          dstIp,
          dstPort,
          service: endpoint ? undefined : svc,
          idleUs: 60 * S,
          refused: refuse,
        }),
        refuse,
      );
      const conn = c.conn;
      const target = conn.backend.pod;
      if (target) tried.add(target);
      const tryStart = t;
      lastTryStart = t;
      const connectUs = c.opened ? this.netLatency(ingress, target) * 2 : 0;
      if (c.opened) conn.tags.push({ req: id, hop, evidence: 'flow' });
      if (conn.refused || !target) {
        const end = tryStart + connectUs + timing.int(100, 600);
        tries.push({ address: dstIp, port: dstPort, status: 502, timeUs: end - tryStart, bytes: 0 });
        truth.attempts.push(
          this.attempt(dstIp, dstPort, routing, target, 'refused', 502, tryStart, end, conn, c.opened),
        );
        this.nginxError(
          ingress,
          end,
          'connect() failed (111: Connection refused) while connecting to upstream',
          incoming,
          dstIp,
          dstPort,
          route,
        );
        t = end;
        lastTryStatus = 502;
        finalFlags = 'UF,URX';
        finalDetails = 'upstream_reset_before_response_started{connection_failure}';
        lastUpstream = { addr: hostPort(dstIp, dstPort), local: hostPort(conn.src.ip, conn.src.port) };
        continue;
      }
      const hang = choice.chance(this.cfg.timeoutRate);
      const arrive = tryStart + connectUs + this.netLatency(ingress, target);
      const served = this.serve(
        target,
        arrive,
        incoming,
        conn,
        hop,
        ctx,
        hang ? route.timeoutUs + 2 * S : undefined,
        hang ? tryStart + route.timeoutUs : undefined,
      );
      lastUpstream = {
        addr: hostPort(conn.backend.ip, conn.backend.port),
        local: hostPort(conn.src.ip, conn.src.port),
      };
      if (hang) {
        const end = tryStart + route.timeoutUs;
        tries.push({ address: dstIp, port: dstPort, status: 504, timeUs: end - tryStart, bytes: null });
        truth.attempts.push(
          this.attempt(dstIp, dstPort, routing, target, 'timeout', 504, tryStart, end, conn, c.opened),
        );
        this.use(conn, tryStart, end, bytesIn, 0, { req: id, hop, evidence: 'flow' });
        conn.closedUs = end; // the proxy gives up on the connection
        this.nginxError(
          ingress,
          end,
          'upstream timed out (110: Connection timed out) while reading response header from upstream',
          incoming,
          dstIp,
          dstPort,
          route,
        );
        t = end;
        lastTryStatus = 504;
        finalFlags = 'UT';
        finalDetails = 'upstream_response_timeout';
        if (route.controller === 'envoy-gateway' || method !== 'GET') break;
        continue;
      }
      const end = served.endUs + this.netLatency(ingress, target);
      tries.push({
        address: dstIp,
        port: dstPort,
        status: served.status,
        timeUs: end - tryStart,
        bytes: served.bytesOut,
      });
      truth.attempts.push(
        this.attempt(dstIp, dstPort, routing, target, 'ok', served.status, tryStart, end, conn, c.opened),
      );
      this.use(conn, tryStart, end, bytesIn, served.bytesOut, { req: id, hop, evidence: 'flow' });
      truth.evidence[hop] = [];
      (truth as { target: unknown }).target = podRef(target, target.workload.container, svc.targetPort);
      final = { ...served, endUs: end };
      finalFlags = '-';
      finalDetails = 'via_upstream';
      t = end;
      break;
    }

    const status = final ? final.status : tries.length ? lastTryStatus : 503;
    const bytesOut = final ? final.bytesOut : 150;
    const ingressEnd = t + timing.int(50, 300);
    const end = ingressEnd + timing.int(200, 800);
    this.use(lbConn.conn, lbAt, end, bytesIn, bytesOut, { req: id, hop: 'ingress', evidence: 'flow' });
    (truth as { start: string }).start = iso(t0);
    (truth as { end: string }).end = iso(end);
    (truth as { status: number }).status = status;
    const ingressTag: Tag = { req: id, hop: 'ingress', evidence: 'ingress_log' };
    if (route.controller === 'ingress-nginx') {
      this.out.logs.push({
        kind: 'nginx',
        pod: ingress,
        container: ingress.workload.container,
        endUs: ingressEnd,
        writeUs: ingressEnd + timing.int(20, 200),
        remoteAddr: client.ip,
        method,
        target: path + query,
        protocol: 'HTTP/1.1',
        status,
        bodyBytesSent: bytesOut,
        userAgent: client.userAgent,
        requestLength: bytesIn,
        requestTimeUs: ingressEnd - ingressStart,
        upstreamName: `${svc.namespace}-${svc.name}-${svc.port}`,
        tries,
        reqId: requestId,
        tags: [ingressTag],
      });
    } else {
      const writeUs = this.flushTime(ingress, ingressEnd);
      this.out.logs.push({
        kind: 'envoy',
        format: 'gateway',
        pod: ingress,
        container: ingress.workload.container,
        startUs: ingressStart,
        writeUs,
        method,
        target: path + query,
        protocol: 'HTTP/1.1',
        status,
        flags: final ? '-' : finalFlags,
        details: final ? 'via_upstream' : finalDetails,
        bytesReceived: bytesIn - 250,
        bytesSent: bytesOut,
        durationUs: ingressEnd - ingressStart,
        upstreamServiceTimeUs: final ? final.endUs - lastTryStart : undefined,
        forwardedFor: client.ip,
        userAgent: client.userAgent,
        requestId,
        authority: route.host,
        upstreamHost: lastUpstream?.addr,
        upstreamCluster: `httproute/${svc.namespace}/${route.name}/rule/0`,
        upstreamLocal: lastUpstream?.local,
        downstreamLocal: hostPort(ingress.ip, ingress.workload.port),
        downstreamRemote: hostPort(lbConn.conn.src.ip, lbConn.conn.src.port),
        serverName: undefined,
        routeName: `httproute/${svc.namespace}/${route.name}/rule/0/match/0/${route.host.replace(/\./g, '_')}`,
        tags: [ingressTag],
      });
    }
    truth.evidence.ingress = [];
    this.out.requests.push(truth);
  }

  private attempt(
    address: string,
    port: number,
    routing: Routing,
    target: Pod | undefined,
    outcome: Outcome,
    status: number | null,
    start: number,
    end: number,
    conn: Connection,
    opened: boolean,
  ): TruthAttempt {
    return {
      address,
      port,
      routing,
      target: target ? podRef(target, target.workload.container, conn.backend.port) : null,
      outcome,
      status,
      start: iso(start),
      end: iso(end),
      connection: { src_ip: conn.src.ip, src_port: conn.src.port, opened },
    };
  }

  // --- a pod serving a request ---------------------------------------------------------------

  /**
   * `hangUs`: the app takes this long (the caller gives up earlier). Returns when the
   * response left the pod.
   */
  private serve(
    pod: Pod,
    arriveUs: number,
    req: Incoming,
    conn: Connection,
    hop: string,
    ctx: RequestCtx,
    hangUs: number | undefined,
    callerGivesUpUs: number | undefined,
  ): Served {
    const { timing, choice } = this;
    const caller = conn.src;
    const w = pod.workload;
    const envoyIn = w.sidecar ? timing.int(200, 600) : 0;
    const appStart = arriveUs + envoyIn;
    // A sidecar generates an x-request-id when the caller sent none.
    const requestId = req.requestId ?? (w.sidecar ? this.ids.uuid() : undefined);
    let status = req.method === 'POST' ? 201 : 200;
    const roll = choice.next();
    if (roll < this.cfg.notFoundRate) status = 404;
    else if (roll < this.cfg.notFoundRate + this.cfg.errorRate) status = 500;
    let cursor = appStart + Math.round(timing.lognormal(w.latencyUs, 0.4) / 2);
    // Trace context: continue the caller's trace, or start one (instrumented apps only).
    let serverSpan: { traceId: string; spanId: string } | undefined;
    if (w.tracing) serverSpan = { traceId: req.trace?.traceId ?? this.ids.id(32), spanId: this.ids.id(16) };
    if (status < 400 && hangUs === undefined) {
      for (const callee of w.calls) {
        if (!choice.chance(0.8)) continue;
        const s = this.cluster.serviceByKey.get(callee)!;
        const r = this.call(pod, s, cursor, ctx, hop, requestId, serverSpan);
        cursor = r.endUs + timing.int(50, 400);
        if ((r.status === null || r.status >= 500) && choice.chance(0.7)) status = 503;
      }
    }
    cursor += Math.round(timing.lognormal(w.latencyUs, 0.4) / 2);
    const appEnd = hangUs === undefined ? cursor : appStart + hangUs;
    const bytesOut = status === 404 ? 150 : 400 + choice.int(0, 30_000);
    const givenUp = callerGivesUpUs !== undefined || hangUs !== undefined;
    const end = appEnd + (w.sidecar ? timing.int(150, 500) : 0);
    if (w.sidecar) {
      const tag: Tag = { req: ctx.truth.id, hop, evidence: 'sidecar_inbound_log' };
      const closedAt = callerGivesUpUs ?? end;
      this.out.logs.push(
        this.envoyLine(pod, {
          startUs: arriveUs,
          endUs: givenUp ? closedAt : end,
          method: req.method,
          target: req.path + req.query,
          status: givenUp ? 0 : status,
          flags: givenUp ? 'DC' : '-',
          details: givenUp ? 'downstream_remote_disconnect' : 'via_upstream',
          bytesReceived: req.bytesIn - 200,
          bytesSent: givenUp ? 0 : bytesOut,
          upstreamServiceTimeUs: givenUp ? undefined : appEnd - appStart,
          forwardedFor: req.forwardedFor,
          userAgent: req.userAgent,
          requestId,
          authority: req.authority,
          upstreamHost: hostPort(pod.ip, w.port),
          upstreamCluster: `inbound|${w.port}||`,
          upstreamLocal: hostPort('127.0.0.6', this.ports.take('127.0.0.6')),
          downstreamLocal: hostPort(pod.ip, w.port),
          downstreamRemote: hostPort(caller.ip, caller.port),
          serverName: caller.pod?.workload.sidecar ? `outbound_.80_._.${fqdnOfWorkload(this.cluster, pod)}` : undefined,
          routeName: 'default',
          tags: [tag],
        }),
      );
    }
    if (serverSpan) {
      const attrs: Record<string, string | number | readonly string[]> = {
        'http.request.method': req.method,
        'url.path': req.path,
        'url.scheme': 'http',
        'http.route': routeTemplate(w.routes, req.path),
        'http.response.status_code': status,
        'server.address': req.authority,
        'server.port': w.port,
        'network.peer.address': w.sidecar ? '127.0.0.6' : caller.ip,
        'network.peer.port': w.sidecar ? this.ports.take('127.0.0.6') : caller.port,
        'network.protocol.version': '1.1',
        'user_agent.original': req.userAgent,
      };
      if (req.query) attrs['url.query'] = req.query.slice(1, 200);
      if (w.capturesRequestId && requestId) attrs['http.request.header.x-request-id'] = [requestId];
      this.out.spans.push({
        pod,
        traceId: serverSpan.traceId,
        spanId: serverSpan.spanId,
        parentSpanId: req.trace?.spanId,
        kind: 2,
        name: `${req.method} ${attrs['http.route']}`,
        startUs: appStart,
        endUs: appEnd,
        statusCode: status >= 500 ? 2 : 0,
        attributes: attrs,
        scope: '@opentelemetry/instrumentation-http',
        tags: [{ req: ctx.truth.id, hop, evidence: 'server_span' }],
      });
    }
    if (w.l7Visible) this.l7(pod, arriveUs, end, req, requestId, status, conn, ctx, hop);
    if (status >= 500)
      this.out.logs.push({
        kind: 'other',
        pod,
        container: w.container,
        stream: 'stderr',
        writeUs: appEnd,
        text: (t) =>
          JSON.stringify({
            level: 'error',
            time: new Date(Math.floor(t / 1000)).toISOString(),
            msg: 'request failed',
            status,
            route: routeTemplate(w.routes, req.path),
          }),
        tags: [],
      });
    return { status, endUs: end, bytesOut };
  }

  /** A call from a pod to a Service while it serves a request. */
  private call(
    from: Pod,
    svc: Service,
    t: number,
    ctx: RequestCtx,
    parentHop: string,
    requestId: string | undefined,
    serverSpan: { traceId: string; spanId: string } | undefined,
  ): { status: number | null; endUs: number } {
    const { timing, choice, cluster } = this;
    const hop = `downstream-${++ctx.downstreamCount}`;
    const w = from.workload;
    let rid = w.propagatesRequestId ? requestId : undefined;
    const clientSpan = serverSpan ? { traceId: serverSpan.traceId, spanId: this.ids.id(16) } : undefined;
    const path = choice.pick(svc.workload.routes).replace(/\{(\w+)\}/g, () => String(choice.int(1, 99_999)));
    const method = choice.chance(0.8) ? 'GET' : 'POST';
    const denied = cluster.deniedEdges.has(`${w.key}→${svc.key}`);
    const appTimeoutUs = 2 * S;
    let routing: Routing;
    let conn: Connection;
    let opened: boolean;
    let appPort = 0;
    let start = t;
    if (from.workload.sidecar) {
      // The app connects to the ClusterIP; iptables hands the connection to the sidecar, which
      // picks an endpoint itself (no Service translation on the wire) and may add a request id.
      routing = 'sidecar_endpoints';
      rid ??= this.ids.uuid();
      appPort = this.ports.take(from.ip);
      start = t + timing.int(100, 300);
      const candidates = readyPods(cluster, svc.workload, start);
      const target = candidates.length ? choice.pick(candidates) : undefined;
      const dstIp = target?.ip ?? svc.clusterIp;
      const c = this.connection(
        `${from.uid}>${dstIp}:${svc.targetPort}`,
        start,
        () => ({
          src: { ip: from.ip, pod: from },
          dstIp,
          dstPort: svc.targetPort,
          service: undefined,
          idleUs: 60 * S,
          refused: false,
        }),
        false,
        denied,
      );
      conn = c.conn;
      opened = c.opened;
    } else {
      routing = this.cfg.routing === 'ebpf' ? 'ebpf_socket_lb' : 'kube_proxy_dnat';
      const c = this.connection(
        `${from.uid}>${svc.clusterIp}:${svc.port}`,
        start,
        () => ({
          src: { ip: from.ip, pod: from },
          dstIp: svc.clusterIp,
          dstPort: svc.port,
          service: svc,
          idleUs: 5 * S,
          refused: false,
        }),
        false,
        denied,
      );
      conn = c.conn;
      opened = c.opened;
    }
    if (opened) conn.tags.push({ req: ctx.truth.id, hop, evidence: 'flow' });
    const target = conn.backend.pod;
    const incoming: Incoming = {
      method,
      path,
      query: '',
      authority: fqdn(svc),
      requestId: rid,
      trace: clientSpan,
      userAgent: from.workload.sidecar || from.workload.tracing ? 'node' : 'Go-http-client/1.1',
      forwardedFor: undefined,
      bytesIn: 250 + choice.int(0, 400),
      clientIp: undefined,
    };
    let status: number | null;
    let end: number;
    let outcome: Outcome;
    let served: Served | undefined;
    if (conn.denied || !target) {
      // SYNs dropped by the policy (or no endpoint): the client gives up.
      const giveUp = from.workload.sidecar ? 1 * S : appTimeoutUs;
      end = start + giveUp;
      status = from.workload.sidecar ? 503 : null;
      outcome = conn.denied ? 'policy_denied' : 'refused';
    } else {
      const connectUs = opened ? this.netLatency(from, target) * 2 : 0;
      const hang = choice.chance(this.cfg.timeoutRate);
      const arrive = start + connectUs + this.netLatency(from, target);
      const giveUpAt = hang ? start + appTimeoutUs : undefined;
      served = this.serve(target, arrive, incoming, conn, hop, ctx, hang ? appTimeoutUs + 3 * S : undefined, giveUpAt);
      if (hang) {
        end = giveUpAt!;
        status = null;
        outcome = 'timeout';
        conn.closedUs = end;
      } else {
        end = served.endUs + this.netLatency(from, target);
        status = served.status;
        outcome = 'ok';
      }
      this.use(conn, start, end, incoming.bytesIn, served.bytesOut, { req: ctx.truth.id, hop, evidence: 'flow' });
    }
    const callEnd = end + (from.workload.sidecar ? timing.int(100, 300) : 0);
    if (from.workload.sidecar) {
      this.out.logs.push(
        this.envoyLine(from, {
          startUs: start,
          endUs: outcome === 'timeout' ? end : callEnd,
          method,
          target: path,
          status: outcome === 'timeout' ? 0 : (status ?? 503),
          flags: outcome === 'ok' ? '-' : outcome === 'timeout' ? 'DC' : 'UF',
          details:
            outcome === 'ok'
              ? 'via_upstream'
              : outcome === 'timeout'
                ? 'downstream_remote_disconnect'
                : 'upstream_reset_before_response_started{connection_timeout}',
          bytesReceived: incoming.bytesIn - 200,
          bytesSent: served && outcome === 'ok' ? served.bytesOut : 0,
          upstreamServiceTimeUs: outcome === 'ok' ? end - start : undefined,
          forwardedFor: undefined,
          userAgent: incoming.userAgent,
          requestId: rid,
          authority: fqdn(svc),
          upstreamHost: hostPort(conn.backend.ip, conn.backend.port),
          upstreamCluster: `outbound|${svc.port}||${fqdn(svc)}`,
          upstreamLocal: outcome === 'ok' || outcome === 'timeout' ? hostPort(conn.src.ip, conn.src.port) : undefined,
          downstreamLocal: hostPort(svc.clusterIp, svc.port),
          downstreamRemote: hostPort(from.ip, appPort),
          serverName: undefined,
          routeName: 'default',
          tags: [{ req: ctx.truth.id, hop, evidence: 'sidecar_outbound_log' }],
        }),
      );
    }
    if (clientSpan) {
      const attrs: Record<string, string | number | readonly string[]> = {
        'http.request.method': method,
        'url.full': `http://${fqdn(svc)}${path}`,
        'server.address': fqdn(svc),
        'server.port': svc.port,
        'network.peer.address': svc.clusterIp,
        'network.peer.port': svc.port,
      };
      if (status !== null) attrs['http.response.status_code'] = status;
      else attrs['error.type'] = outcome === 'timeout' ? 'timeout' : 'ECONNREFUSED';
      this.out.spans.push({
        pod: from,
        traceId: clientSpan.traceId,
        spanId: clientSpan.spanId,
        parentSpanId: serverSpan!.spanId,
        kind: 3,
        name: method,
        startUs: t,
        endUs: callEnd,
        statusCode: status === null || status >= 500 ? 2 : 0,
        attributes: attrs,
        scope: '@opentelemetry/instrumentation-http',
        tags: [{ req: ctx.truth.id, hop, evidence: 'client_span' }],
      });
    }
    const call: TruthCall = {
      hop,
      parent: parentHop,
      from: podRef(from, from.workload.container, from.workload.port),
      service: { namespace: svc.namespace, name: svc.name, cluster_ip: svc.clusterIp, port: svc.port },
      via: from.workload.sidecar ? 'sidecar' : 'direct',
      routing,
      target: target && !conn.denied ? podRef(target, target.workload.container, svc.targetPort) : null,
      outcome,
      status,
      start: iso(t),
      end: iso(callEnd),
      request_id: rid ?? null,
      trace_id: clientSpan?.traceId ?? null,
      connection: { src_ip: conn.src.ip, src_port: conn.src.port, opened },
    };
    ctx.truth.downstream.push(call);
    ctx.truth.evidence[hop] = [];
    return { status, endUs: callEnd };
  }

  // --- connections ------------------------------------------------------------------------

  /** An idle kept-alive connection of `key`, or a new one. */
  private connection(
    key: string,
    t: number,
    spec: () => {
      src: { ip: string; pod: Pod | undefined };
      dstIp: string;
      dstPort: number;
      service: Service | undefined;
      idleUs: number;
      refused: boolean;
    },
    forceNew = false,
    denied = false,
  ): { conn: Connection; opened: boolean } {
    let pool = this.pools.get(key);
    if (!pool) {
      pool = [];
      this.pools.set(key, pool);
    }
    if (!forceNew && !denied)
      for (const c of pool) {
        if (c.closedUs !== undefined && c.closedUs <= t) continue;
        if (c.busyUntilUs > t || t >= c.lastEndUs + c.idleUs) continue;
        const b = c.backend.pod;
        if (
          b &&
          ((b.terminatingUs !== undefined && t >= b.terminatingUs) || (b.deletedUs !== undefined && t >= b.deletedUs))
        )
          continue;
        return { conn: c, opened: false };
      }
    const s = spec();
    let backendPod: Pod | undefined;
    let backendIp = s.dstIp;
    let backendPort = s.dstPort;
    let translation: Connection['translation'] = 'none';
    if (s.service) {
      translation = this.cfg.routing === 'ebpf' ? 'ebpf' : 'kube-proxy';
      const ready = readyPods(this.cluster, s.service.workload, t);
      backendPod = ready.length ? this.choice.pick(ready) : undefined;
      backendIp = backendPod?.ip ?? s.dstIp;
      backendPort = s.service.targetPort;
    } else backendPod = podAt(this.cluster, s.dstIp, t);
    const conn: Connection = {
      id: ++this.connSeq,
      src: { ip: s.src.ip, port: this.ports.take(s.src.ip), pod: s.src.pod },
      dst: { ip: s.dstIp, port: s.dstPort },
      backend: { ip: backendIp, port: backendPort, pod: backendPod },
      service: s.service,
      translation,
      openedUs: t,
      cookie: BigInt(1000 + this.connSeq) * 4099n + BigInt(this.choice.int(0, 4098)),
      denied,
      refused: s.refused || (s.service !== undefined && backendPod === undefined),
      busyUntilUs: t,
      lastEndUs: t,
      closedUs: undefined,
      uses: [],
      idleUs: s.idleUs,
      tags: [],
    };
    this.out.connections.push(conn);
    if (!denied && !conn.refused) pool.push(conn);
    this.openEvents(conn);
    return { conn, opened: true };
  }

  /** A request carried by the connection; with per-packet monitoring, its data packets are seen too. */
  private use(conn: Connection, startUs: number, endUs: number, bytesOut: number, bytesIn: number, tag: Tag): void {
    conn.uses.push({ startUs, endUs, bytesOut, bytesIn });
    conn.busyUntilUs = Math.max(conn.busyUntilUs, endUs);
    conn.lastEndUs = Math.max(conn.lastEndUs, endUs);
    if (this.cfg.hubbleAggregation !== 'none') return;
    const hop = this.netLatency(conn.src.pod, conn.backend.pod);
    const tags = [tag];
    const ev = (kind: NetEventKind, atUs: number, side: 'src' | 'dst') => {
      const observer = side === 'src' ? conn.src.pod?.node : conn.backend.pod?.node;
      if (observer) this.out.net.push({ kind, atUs, conn, observer, side, tags });
    };
    ev('data', startUs + 3, 'src');
    ev('data', startUs + 3 + hop, 'dst');
    ev('data_reply', Math.max(startUs + 3 + hop, endUs - hop), 'dst');
    ev('data_reply', endUs, 'src');
  }

  /** Datapath events of a connection being opened, on the nodes of both ends. */
  private openEvents(c: Connection): void {
    const srcNode = c.src.pod?.node;
    const dstNode = c.backend.pod?.node;
    const t = c.openedUs;
    const ev = (kind: NetEventKind, atUs: number, side: 'src' | 'dst') => {
      const observer = side === 'src' ? srcNode : dstNode;
      if (observer) this.out.net.push({ kind, atUs, conn: c, observer, side, tags: c.tags });
    };
    if (c.translation === 'ebpf') {
      ev('sock_pre', t, 'src');
      ev('sock_post', t + 2, 'src');
    }
    const hop = this.netLatency(c.src.pod, c.backend.pod);
    ev('syn', t + 5, 'src');
    if (c.denied) {
      for (const retry of [0, 1 * S, 3 * S]) ev('drop', t + 5 + hop + retry, 'dst');
      return;
    }
    ev('syn', t + 5 + hop, 'dst');
    if (c.refused) {
      ev('rst', t + 10 + hop, 'dst');
      ev('rst', t + 10 + 2 * hop, 'src');
      c.closedUs = t + 10 + 2 * hop;
      return;
    }
    ev('synack', t + 10 + hop, 'dst');
    ev('synack', t + 10 + 2 * hop, 'src');
  }

  /** Closes every connection: when idle too long, or when its backend pod shut down. */
  private closeConnections(): void {
    const limit = this.cluster.endUs;
    for (const c of this.out.connections) {
      if (c.denied || c.refused) continue;
      let close = c.closedUs ?? c.lastEndUs + c.idleUs;
      const b = c.backend.pod;
      if (b?.terminatingUs !== undefined) close = Math.min(close, Math.max(b.terminatingUs, c.lastEndUs) + 100 * MS);
      c.closedUs = close;
      if (close > limit) continue;
      const srcNode = c.src.pod?.node;
      const dstNode = b?.node;
      const hop = this.netLatency(c.src.pod, b);
      const push = (kind: NetEventKind, atUs: number, side: 'src' | 'dst') => {
        const observer = side === 'src' ? srcNode : dstNode;
        if (observer) this.out.net.push({ kind, atUs, conn: c, observer, side, tags: [] });
      };
      push('fin', close, 'src');
      push('fin', close + hop, 'dst');
      push('finack', close + hop + 20, 'dst');
      push('finack', close + 2 * hop + 20, 'src');
    }
  }

  /** Hubble sees HTTP at L7 for workloads under an L7 policy: a request and a response record. */
  private l7(
    pod: Pod,
    arriveUs: number,
    endUs: number,
    req: Incoming,
    requestId: string | undefined,
    status: number,
    conn: Connection,
    ctx: RequestCtx,
    hop: string,
  ): void {
    const headers: { key: string; value: string }[] = [];
    if (requestId) headers.push({ key: 'X-Request-Id', value: requestId });
    if (req.trace) headers.push({ key: 'Traceparent', value: `00-${req.trace.traceId}-${req.trace.spanId}-01` });
    headers.push({ key: 'User-Agent', value: req.userAgent });
    const url = `http://${req.authority}${req.path}${req.query}`;
    const tags: Tag[] = [{ req: ctx.truth.id, hop, evidence: 'l7_flow' }];
    this.out.net.push({
      kind: 'l7_request',
      atUs: arriveUs,
      conn,
      observer: pod.node,
      side: 'dst',
      l7: { method: req.method, url, protocol: 'HTTP/1.1', headers },
      tags,
    });
    this.out.net.push({
      kind: 'l7_response',
      atUs: endUs,
      conn,
      observer: pod.node,
      side: 'dst',
      l7: { method: req.method, url, protocol: 'HTTP/1.1', code: status, latencyUs: endUs - arriveUs, headers },
      tags,
    });
  }

  // --- helpers ------------------------------------------------------------------------------

  /** One-way network latency between two pods (same node: loopback through the bridge). */
  private netLatency(a: Pod | undefined, b: Pod | undefined): number {
    if (a && b && a.node === b.node) return this.timing.int(20, 60);
    return this.timing.int(80, 350);
  }

  /** Envoy flushes its access-log buffer once a second. */
  private flushTime(pod: Pod, endUs: number): number {
    const phase = (pod.uid.charCodeAt(0) * 7919) % S;
    return Math.ceil((endUs - phase) / S) * S + phase + this.timing.int(0, 300);
  }

  private envoyLine(
    pod: Pod,
    f: Omit<EnvoyRecord, 'kind' | 'format' | 'pod' | 'container' | 'writeUs' | 'protocol' | 'durationUs'> & {
      endUs: number;
    },
  ): EnvoyRecord {
    const { endUs, ...rest } = f;
    return {
      kind: 'envoy',
      format: 'istio',
      pod,
      container: 'istio-proxy',
      writeUs: this.flushTime(pod, endUs),
      protocol: 'HTTP/1.1',
      durationUs: endUs - f.startUs,
      ...rest,
    };
  }

  private nginxError(
    pod: Pod,
    atUs: number,
    what: string,
    req: Incoming,
    ip: string,
    port: number,
    route: Route,
  ): void {
    if (route.controller !== 'ingress-nginx') return;
    const serial = (this.nginxConnSerial.get(pod) ?? 1000) + this.timing.int(1, 40);
    this.nginxConnSerial.set(pod, serial);
    this.out.logs.push({
      kind: 'other',
      pod,
      container: pod.workload.container,
      stream: 'stderr',
      writeUs: atUs,
      text: (t) =>
        `${nginxErrorTime(t)} [error] 27#27: *${serial} ${what}, client: ${req.clientIp ?? '-'}, server: ${req.authority}, request: "${req.method} ${req.path} HTTP/1.1", upstream: "http://${hostPort(ip, port)}${req.path}", host: "${req.authority}"`,
      tags: [],
    });
  }
}

function iso(us: number): string {
  const d = new Date(Math.floor(us / 1000)).toISOString();
  return `${d.slice(0, 19)}.${String(((us % 1_000_000) + 1_000_000) % 1_000_000).padStart(6, '0')}Z`;
}

function routeTemplate(routes: readonly string[], path: string): string {
  for (const r of routes) {
    const re = new RegExp(`^${r.replace(/\{\w+\}/g, '[^/]+')}$`);
    if (re.test(path)) return r;
  }
  return path;
}

function fqdnOfWorkload(cluster: Cluster, pod: Pod): string {
  const s = cluster.services.find((x) => x.workload === pod.workload);
  return s ? fqdn(s) : `${pod.workload.name}.${pod.namespace}.svc.cluster.local`;
}

// A Kubernetes API server for tests, on loopback, speaking the wire protocol
// the agent meets in a cluster: LIST with resourceVersion and limit/continue
// (consistent pages from one snapshot), WATCH as a chunked stream of
// `{"type":…,"object":…}` lines (events split across HTTP chunks), replay
// from a resourceVersion, 410 Gone (as an ERROR event or as the HTTP status)
// once history is compacted, BOOKMARK events when asked for, field and label
// selectors (objects entering/leaving a selection arrive as ADDED/DELETED),
// Lease get/create/update with optimistic concurrency (409) and the
// MicroTime format check a real server makes. Faults are injected by tests:
// dropped connections, events cut mid-line, restarts, failing requests.
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Obj = Record<string, unknown> & { metadata?: Record<string, unknown> };

interface Resource {
  readonly prefix: string;
  readonly plural: string;
  readonly kind: string;
  readonly apiVersion: string;
  readonly namespaced: boolean;
}

const RESOURCES: readonly Resource[] = [
  { prefix: '/api/v1', plural: 'pods', kind: 'Pod', apiVersion: 'v1', namespaced: true },
  { prefix: '/api/v1', plural: 'services', kind: 'Service', apiVersion: 'v1', namespaced: true },
  { prefix: '/api/v1', plural: 'nodes', kind: 'Node', apiVersion: 'v1', namespaced: false },
  { prefix: '/api/v1', plural: 'events', kind: 'Event', apiVersion: 'v1', namespaced: true },
  {
    prefix: '/apis/events.k8s.io/v1',
    plural: 'events',
    kind: 'Event',
    apiVersion: 'events.k8s.io/v1',
    namespaced: true,
  },
  {
    prefix: '/apis/discovery.k8s.io/v1',
    plural: 'endpointslices',
    kind: 'EndpointSlice',
    apiVersion: 'discovery.k8s.io/v1',
    namespaced: true,
  },
  {
    prefix: '/apis/coordination.k8s.io/v1',
    plural: 'leases',
    kind: 'Lease',
    apiVersion: 'coordination.k8s.io/v1',
    namespaced: true,
  },
];

/** Collection names tests use: `pods`, `services`, `nodes`, `events` (core), `events.k8s.io`, `endpointslices`, `leases`. */
export type Collection = 'pods' | 'services' | 'nodes' | 'events' | 'events.k8s.io' | 'endpointslices' | 'leases';

const collectionOf = (r: Resource): Collection =>
  r.apiVersion === 'events.k8s.io/v1' ? 'events.k8s.io' : (r.plural as Collection);

interface Change {
  readonly rv: number;
  readonly collection: Collection;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: Obj;
  readonly previous: Obj | undefined;
}

type Selector = (o: Obj) => boolean;

interface Watcher {
  readonly collection: Collection;
  readonly matches: Selector;
  readonly bookmarks: boolean;
  readonly res: ServerResponse;
  readonly record: WatchRecord;
}

export interface WatchRecord {
  readonly collection: Collection;
  readonly token: string | undefined;
  readonly query: Record<string, string>;
  readonly openedAt: number;
  closedAt?: number;
}

export interface RequestRecord {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly token: string | undefined;
  status: number;
}

export interface LeaseWrite {
  readonly method: 'POST' | 'PUT';
  readonly token: string | undefined;
  readonly holder: string;
  readonly at: number;
  readonly status: number;
}

/** Returns an HTTP status to fail the request with, or undefined to serve it. */
export type Fault = (r: {
  method: string;
  path: string;
  query: Record<string, string>;
  token?: string;
}) => number | undefined;

const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;

export interface KubeApiServerOptions {
  /** Send 410 for a too-old watch position as the HTTP status instead of an in-stream ERROR event. */
  readonly expiredAsHttpStatus?: boolean;
  /** Send a BOOKMARK to watches that asked for them this often (0: only when `bookmark()` is called). */
  readonly bookmarkIntervalMs?: number;
  /** Split every event line over two HTTP chunks (clients must not assume one event per chunk). */
  readonly splitEvents?: boolean;
}

export class KubeApiServer {
  private server: Server;
  private port = 0;
  private rv = 1000;
  private compactedBelow = 0;
  private readonly store = new Map<Collection, Map<string, Obj>>();
  private readonly history: Change[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly sockets = new Set<Socket>();
  private readonly listSnapshots = new Map<string, { rv: number; items: Obj[] }>();
  private cutNext = false;
  private bookmarkTimer: NodeJS.Timeout | undefined;
  /** Mutable: tests switch how a too-old watch position is answered. */
  readonly options: { -readonly [K in keyof KubeApiServerOptions]: KubeApiServerOptions[K] };
  /** Every request, in order. */
  readonly requests: RequestRecord[] = [];
  /** Every watch stream, with when it opened and closed. */
  readonly watches: WatchRecord[] = [];
  readonly leaseWrites: LeaseWrite[] = [];
  fault: Fault | undefined;

  private constructor(options: KubeApiServerOptions) {
    this.options = { ...options };
    this.server = this.newServer();
  }

  static async start(options: KubeApiServerOptions = {}): Promise<KubeApiServer> {
    const s = new KubeApiServer(options);
    await s.listen(0);
    if (options.bookmarkIntervalMs) {
      s.bookmarkTimer = setInterval(() => s.bookmark(), options.bookmarkIntervalMs);
      s.bookmarkTimer.unref();
    }
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get resourceVersion(): string {
    return String(this.rv);
  }

  /** Writes a kubeconfig that points at this server with a bearer token (HTTP needs insecure-skip-tls-verify). */
  writeKubeconfig(path: string, token = 'test-token'): string {
    writeFileSync(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: test',
        '  cluster:',
        `    server: ${this.url}`,
        '    insecure-skip-tls-verify: true',
        'users:',
        '- name: agent',
        '  user:',
        `    token: ${token}`,
        'contexts:',
        '- name: test',
        '  context: { cluster: test, user: agent }',
        'current-context: test',
        '',
      ].join('\n'),
    );
    return path;
  }

  // --- object changes (the cluster's side) ---------------------------------------

  create(collection: Collection, object: Obj): Obj {
    const r = this.resource(collection);
    const meta = { ...(object.metadata ?? {}) };
    if (r.namespaced) meta.namespace ??= 'default';
    const key = keyOf(meta);
    if (this.items(collection).has(key)) throw new Error(`${collection} ${key} exists`);
    meta.uid ??= randomUUID();
    meta.creationTimestamp ??= new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    meta.resourceVersion = String(++this.rv);
    const stored: Obj = { kind: r.kind, apiVersion: r.apiVersion, ...object, metadata: meta };
    this.items(collection).set(key, stored);
    this.record({ rv: this.rv, collection, type: 'ADDED', object: stored, previous: undefined });
    return stored;
  }

  /** Replaces an object (matched by namespace/name); `mutate` edits a copy. */
  update(collection: Collection, namespace: string | undefined, name: string, mutate: (o: Obj) => void): Obj {
    const key = keyOf({ namespace, name });
    const previous = this.items(collection).get(key);
    if (!previous) throw new Error(`${collection} ${key} not found`);
    const next = structuredClone(previous);
    mutate(next);
    next.metadata = { ...next.metadata, resourceVersion: String(++this.rv) };
    this.items(collection).set(key, next);
    this.record({ rv: this.rv, collection, type: 'MODIFIED', object: next, previous });
    return next;
  }

  remove(collection: Collection, namespace: string | undefined, name: string): void {
    const key = keyOf({ namespace, name });
    const previous = this.items(collection).get(key);
    if (!previous) throw new Error(`${collection} ${key} not found`);
    this.items(collection).delete(key);
    const gone = { ...previous, metadata: { ...previous.metadata, resourceVersion: String(++this.rv) } };
    this.record({ rv: this.rv, collection, type: 'DELETED', object: gone, previous });
  }

  get(collection: Collection, namespace: string | undefined, name: string): Obj | undefined {
    return this.items(collection).get(keyOf({ namespace, name }));
  }

  count(collection: Collection): number {
    return this.items(collection).size;
  }

  // --- faults ------------------------------------------------------------------

  /** Forgets all history: any watch or continue token from before now gets 410 Gone. */
  compact(): void {
    this.compactedBelow = this.rv + 1;
    this.history.length = 0;
  }

  /** Sends every open watch a 410 ERROR event (as after etcd compaction) and ends it. */
  expireWatches(): void {
    this.compact();
    for (const w of [...this.watchers]) {
      this.send(w, { type: 'ERROR', object: expiredStatus(0) });
      w.res.end();
    }
  }

  /** Cuts every connection (watches mid-stream, idle keep-alive sockets). */
  dropConnections(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** The next event goes out half-written, then every connection is cut. */
  cutNextEvent(): void {
    this.cutNext = true;
  }

  /** Sends a BOOKMARK with the current resourceVersion to watches that asked for them. */
  bookmark(): void {
    for (const w of this.watchers)
      if (w.bookmarks) {
        const r = this.resource(w.collection);
        this.send(w, {
          type: 'BOOKMARK',
          object: {
            kind: r.kind,
            apiVersion: r.apiVersion,
            metadata: { resourceVersion: String(this.rv), creationTimestamp: null },
          },
        });
      }
  }

  /** Stops listening and cuts every connection, then listens again on the same port; history survives unless told. */
  async restart(options: { loseHistory?: boolean; downMs?: number } = {}): Promise<void> {
    await this.close();
    if (options.loseHistory) this.compact();
    await new Promise((r) => setTimeout(r, options.downMs ?? 200));
    this.server = this.newServer();
    await this.listen(this.port);
  }

  async close(): Promise<void> {
    clearInterval(this.bookmarkTimer);
    for (const w of this.watchers) w.record.closedAt ??= Date.now();
    this.watchers.clear();
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }

  /** Open watch streams (not yet closed) of a collection. */
  openWatches(collection?: Collection): WatchRecord[] {
    return this.watches.filter((w) => w.closedAt === undefined && (!collection || w.collection === collection));
  }

  // --- HTTP --------------------------------------------------------------------

  private newServer(): Server {
    const server = createServer((req, res) => this.handle(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    return server;
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private resource(collection: Collection): Resource {
    return RESOURCES.find((r) => collectionOf(r) === collection)!;
  }

  private items(collection: Collection): Map<string, Obj> {
    let m = this.store.get(collection);
    if (!m) {
      m = new Map();
      this.store.set(collection, m);
    }
    return m;
  }

  private handle(req: IncomingMessage, res: ServerResponse): undefined {
    const url = new URL(req.url ?? '/', 'http://x');
    const query = Object.fromEntries(url.searchParams);
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
    const record: RequestRecord = { method: req.method ?? 'GET', path: url.pathname, query, token, status: 200 };
    this.requests.push(record);
    const reply = (status: number, body: unknown): undefined => {
      record.status = status;
      const text = JSON.stringify(body);
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    };
    const injected = this.fault?.({ method: record.method, path: url.pathname, query, ...(token ? { token } : {}) });
    if (injected) {
      req.resume();
      reply(injected, status(injected, 'InternalError', `injected failure ${injected}`));
      return;
    }
    const route = this.route(url.pathname);
    if (!route) {
      req.resume();
      reply(404, status(404, 'NotFound', `the server could not find the requested resource`));
      return;
    }
    const { resource, namespace, name } = route;
    const collection = collectionOf(resource);
    if (req.method === 'GET' && name === undefined) {
      req.resume();
      const selector = this.selector(resource, namespace, query);
      if (typeof selector === 'string') return reply(400, status(400, 'BadRequest', selector));
      if (query.watch === 'true' || query.watch === '1')
        return this.watch(collection, selector, query, token, res, record);
      return this.list(collection, resource, selector, query, reply);
    }
    if (req.method === 'GET' && name !== undefined) {
      req.resume();
      const o = this.get(collection, namespace, name);
      if (!o) return reply(404, status(404, 'NotFound', `${resource.plural} "${name}" not found`));
      return reply(200, o);
    }
    if ((req.method === 'POST' && name === undefined) || (req.method === 'PUT' && name !== undefined)) {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => {
        body += c;
      });
      req.on('end', () =>
        this.write(req.method as 'POST' | 'PUT', collection, resource, namespace, name, body, token, reply),
      );
      return;
    }
    req.resume();
    reply(405, status(405, 'MethodNotAllowed', 'method not allowed'));
  }

  private route(path: string): { resource: Resource; namespace?: string; name?: string } | undefined {
    for (const r of RESOURCES) {
      if (!path.startsWith(`${r.prefix}/`)) continue;
      const rest = path.slice(r.prefix.length + 1).split('/');
      if (rest.length === 1 && rest[0] === r.plural) return { resource: r };
      if (r.namespaced && rest[0] === 'namespaces' && rest[2] === r.plural) {
        if (rest.length === 3) return { resource: r, namespace: rest[1]! };
        if (rest.length === 4) return { resource: r, namespace: rest[1]!, name: rest[3]! };
      }
      if (!r.namespaced && rest.length === 2 && rest[0] === r.plural) return { resource: r, name: rest[1]! };
    }
    return undefined;
  }

  /** A predicate for fieldSelector/labelSelector, or an error message (400) for an unsupported field. */
  private selector(
    resource: Resource,
    namespace: string | undefined,
    query: Record<string, string>,
  ): Selector | string {
    const tests: Selector[] = [];
    if (namespace) tests.push((o) => o.metadata?.namespace === namespace);
    for (const term of splitTerms(query.fieldSelector)) {
      const m = /^([A-Za-z.]+)(==|!=|=)(.*)$/.exec(term);
      if (!m) return `invalid field selector: ${term}`;
      const [, field, op, value] = m as unknown as [string, string, string, string];
      const allowed = ['metadata.name', 'metadata.namespace', ...(resource.kind === 'Pod' ? ['spec.nodeName'] : [])];
      if (!allowed.includes(field)) return `"${field}" is not a known field selector: only "${allowed.join('", "')}"`;
      const path = field.split('.');
      const get = (o: Obj) => {
        let v: unknown = o;
        for (const p of path) v = (v as Record<string, unknown> | undefined)?.[p];
        return typeof v === 'string' ? v : '';
      };
      tests.push(op === '!=' ? (o) => get(o) !== value : (o) => get(o) === value);
    }
    for (const term of splitTerms(query.labelSelector)) {
      const m = /^([^!=]+)(==|!=|=)(.*)$/.exec(term);
      const labels = (o: Obj) => (o.metadata?.labels ?? {}) as Record<string, string>;
      if (!m) tests.push((o) => term in labels(o));
      else {
        const [, k, op, v] = m as unknown as [string, string, string, string];
        tests.push(op === '!=' ? (o) => labels(o)[k] !== v : (o) => labels(o)[k] === v);
      }
    }
    return (o) => tests.every((t) => t(o));
  }

  private list(
    collection: Collection,
    resource: Resource,
    matches: Selector,
    query: Record<string, string>,
    reply: (status: number, body: unknown) => undefined,
  ): undefined {
    const limit = Number(query.limit ?? 0);
    let snapshot: { rv: number; items: Obj[] };
    let start = 0;
    let id: string;
    if (query.continue) {
      let token: { id?: string; start?: number; rv?: number };
      try {
        token = JSON.parse(Buffer.from(query.continue, 'base64').toString('utf8'));
      } catch {
        return reply(400, status(400, 'BadRequest', 'continue key is not valid'));
      }
      const saved = token.id ? this.listSnapshots.get(token.id) : undefined;
      if (!saved || saved.rv < this.compactedBelow)
        return reply(
          410,
          status(
            410,
            'Expired',
            'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
          ),
        );
      snapshot = saved;
      start = token.start ?? 0;
      id = token.id!;
    } else {
      const items = [...this.items(collection).entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([, o]) => o)
        .filter(matches)
        .map(({ kind: _k, apiVersion: _a, ...rest }) => rest as Obj);
      snapshot = { rv: this.rv, items };
      id = randomUUID();
    }
    const end = limit > 0 ? Math.min(snapshot.items.length, start + limit) : snapshot.items.length;
    const metadata: Record<string, unknown> = { resourceVersion: String(snapshot.rv) };
    if (end < snapshot.items.length) {
      this.listSnapshots.set(id, snapshot);
      metadata.continue = Buffer.from(JSON.stringify({ id, start: end, rv: snapshot.rv })).toString('base64');
      metadata.remainingItemCount = snapshot.items.length - end;
    } else this.listSnapshots.delete(id);
    reply(200, {
      kind: `${resource.kind}List`,
      apiVersion: resource.apiVersion,
      metadata,
      items: snapshot.items.slice(start, end),
    });
  }

  private watch(
    collection: Collection,
    matches: Selector,
    query: Record<string, string>,
    token: string | undefined,
    res: ServerResponse,
    request: RequestRecord,
  ): undefined {
    const from = query.resourceVersion;
    const explicit = from !== undefined && from !== '' && from !== '0';
    if (explicit && Number(from) < this.compactedBelow - 1 && this.options.expiredAsHttpStatus) {
      request.status = 410;
      const text = JSON.stringify(expiredStatus(Number(from)));
      res.writeHead(410, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const record: WatchRecord = { collection, token, query, openedAt: Date.now() };
    this.watches.push(record);
    const watcher: Watcher = {
      collection,
      matches,
      bookmarks: query.allowWatchBookmarks === 'true',
      res,
      record,
    };
    res.on('close', () => {
      record.closedAt ??= Date.now();
      this.watchers.delete(watcher);
    });
    if (explicit && Number(from) < this.compactedBelow - 1) {
      this.send(watcher, { type: 'ERROR', object: expiredStatus(Number(from)) });
      res.end();
      return;
    }
    if (!explicit) {
      for (const o of this.items(collection).values()) if (matches(o)) this.send(watcher, { type: 'ADDED', object: o });
    } else {
      for (const c of this.history) if (c.collection === collection && c.rv > Number(from)) this.deliver(watcher, c);
    }
    this.watchers.add(watcher);
    const seconds = Number(query.timeoutSeconds ?? 0);
    if (seconds > 0) {
      const timer = setTimeout(() => res.end(), seconds * 1000);
      timer.unref();
      res.on('close', () => clearTimeout(timer));
    }
  }

  private write(
    method: 'POST' | 'PUT',
    collection: Collection,
    resource: Resource,
    namespace: string | undefined,
    name: string | undefined,
    text: string,
    token: string | undefined,
    reply: (status: number, body: unknown) => undefined,
  ): undefined {
    let body: Obj;
    try {
      body = JSON.parse(text) as Obj;
    } catch {
      return reply(400, status(400, 'BadRequest', 'the request body is not JSON'));
    }
    const objName = (body.metadata?.name as string | undefined) ?? name;
    const holder = String((body.spec as Record<string, unknown> | undefined)?.holderIdentity ?? '');
    const note = (code: number) => {
      if (collection === 'leases') this.leaseWrites.push({ method, token, holder, at: Date.now(), status: code });
    };
    if (collection === 'leases') {
      const spec = (body.spec ?? {}) as Record<string, unknown>;
      for (const field of ['acquireTime', 'renewTime'] as const) {
        const v = spec[field];
        if (v != null && (typeof v !== 'string' || !MICRO_TIME.test(v))) {
          note(400);
          return reply(
            400,
            status(
              400,
              'BadRequest',
              `Lease in version "v1" cannot be handled as a Lease: parsing time "${String(v)}" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "${String(v).slice(-4)}" as ".000000"`,
            ),
          );
        }
      }
    }
    if (!objName) return reply(422, status(422, 'Invalid', 'metadata.name: Required value'));
    if (method === 'POST') {
      if (this.get(collection, namespace, objName)) {
        note(409);
        return reply(
          409,
          status(409, 'AlreadyExists', `${resource.plural}.${groupOf(resource)} "${objName}" already exists`),
        );
      }
      const { resourceVersion: _rv, ...meta } = body.metadata ?? {};
      const created = this.create(collection, { ...body, metadata: { ...meta, name: objName, namespace } });
      note(201);
      return reply(201, created);
    }
    const current = this.get(collection, namespace, objName);
    if (!current) {
      note(404);
      return reply(404, status(404, 'NotFound', `${resource.plural}.${groupOf(resource)} "${objName}" not found`));
    }
    if (body.metadata?.resourceVersion !== current.metadata?.resourceVersion) {
      note(409);
      return reply(
        409,
        status(
          409,
          'Conflict',
          `Operation cannot be fulfilled on ${resource.plural}.${groupOf(resource)} "${objName}": the object has been modified; please apply your changes to the latest version and try again`,
        ),
      );
    }
    const updated = this.update(collection, namespace, objName, (o) => {
      for (const k of Object.keys(o)) if (k !== 'metadata') delete o[k];
      Object.assign(o, { ...body, kind: resource.kind, apiVersion: resource.apiVersion, metadata: o.metadata });
    });
    note(200);
    reply(200, updated);
  }

  private record(change: Change): void {
    this.history.push(change);
    for (const w of [...this.watchers]) if (w.collection === change.collection) this.deliver(w, change);
    if (this.cutNext) {
      this.cutNext = false;
      this.dropConnections();
    }
  }

  /** What a watch with this selection sees of a change (objects entering or leaving it too). */
  private deliver(w: Watcher, c: Change): void {
    const now = w.matches(c.object);
    const before = c.previous !== undefined && w.matches(c.previous);
    let type: 'ADDED' | 'MODIFIED' | 'DELETED' | undefined;
    if (c.type === 'ADDED') type = now ? 'ADDED' : undefined;
    else if (c.type === 'DELETED') type = before ? 'DELETED' : undefined;
    else if (now && before) type = 'MODIFIED';
    else if (now) type = 'ADDED';
    else if (before) type = 'DELETED';
    if (type) this.send(w, { type, object: c.object });
  }

  private send(w: Watcher, event: { type: string; object: unknown }): void {
    if (w.res.writableEnded || w.res.destroyed) return;
    const line = `${JSON.stringify(event)}\n`;
    if (this.cutNext) {
      w.res.write(line.slice(0, Math.floor(line.length / 2)));
      return;
    }
    if (this.options.splitEvents !== false && line.length > 8) {
      const at = 1 + Math.floor(Math.random() * (line.length - 2));
      w.res.write(line.slice(0, at));
      w.res.write(line.slice(at));
    } else w.res.write(line);
  }
}

function keyOf(meta: { namespace?: unknown; name?: unknown }): string {
  return `${typeof meta.namespace === 'string' ? meta.namespace : ''}/${String(meta.name)}`;
}

function groupOf(r: Resource): string {
  const g = r.apiVersion.includes('/') ? r.apiVersion.split('/')[0] : '';
  return g ?? '';
}

function splitTerms(s: string | undefined): string[] {
  return s ? s.split(',').filter((t) => t.length > 0) : [];
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function expiredStatus(rv: number) {
  return status(410, 'Expired', `too old resource version: ${rv}`);
}

// A Hubble Observer for tests: a real grpc-js server on a unix socket serving
// GetFlows from the agent's trimmed protos. Like Hubble it keeps flows in a
// ring buffer, answers `since` by scanning the buffer in arrival order,
// streams new flows to followers, and reports a follower that fell behind the
// ring with a HUBBLE_RING_BUFFER lost event. Writes respect HTTP/2 flow
// control ("block" mode, nothing lost) unless the ring overwrites ("ring" mode).
import { existsSync, rmSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { GetFlowsResponse, observerService } from '../../agent/src/sources/hubble/proto.ts';

interface Entry {
  readonly seq: number;
  readonly timeUs: number;
  readonly bytes: Uint8Array;
}

interface Follower {
  readonly call: grpc.ServerWritableStream<Record<string, unknown>, Uint8Array>;
  cursor: number;
  readonly sinceUs: number | undefined;
  readonly control: Uint8Array[];
  pumping: boolean;
  closed: boolean;
}

export interface HubbleServerOptions {
  /** Ring capacity; older flows are overwritten (lost for a slow follower). Infinity never overwrites. */
  readonly capacity?: number;
  /** Serve TLS on TCP (the socket path is then ignored and a loopback port is used). */
  readonly tls?: {
    readonly ca: Buffer;
    readonly cert: Buffer;
    readonly key: Buffer;
    readonly requireClientCert: boolean;
  };
}

const encode = (res: Record<string, unknown>): Uint8Array =>
  GetFlowsResponse.encode(GetFlowsResponse.fromObject(res)).finish();

export class HubbleTestServer {
  readonly socketPath: string;
  /** GetFlows requests as the server decoded them (enums as names, 64-bit as strings). */
  readonly requests: Record<string, unknown>[] = [];
  /** Responses written to followers, and writes that hit HTTP/2 backpressure. */
  sent = 0;
  blockedWrites = 0;
  private entries: Entry[] = [];
  private nextSeq = 0;
  private readonly capacity: number;
  private readonly tls: HubbleServerOptions['tls'];
  private port = 0;
  private readonly followers = new Set<Follower>();
  private server: grpc.Server | undefined;

  private constructor(socketPath: string, options: HubbleServerOptions) {
    this.socketPath = socketPath;
    this.capacity = options.capacity ?? Number.POSITIVE_INFINITY;
    this.tls = options.tls;
  }

  static async start(socketPath: string, options: HubbleServerOptions = {}): Promise<HubbleTestServer> {
    const s = new HubbleTestServer(socketPath, options);
    await s.listen();
    return s;
  }

  get address(): string {
    return this.tls ? `127.0.0.1:${this.port}` : `unix://${this.socketPath}`;
  }

  get activeStreams(): number {
    return this.followers.size;
  }

  /** Appends GetFlowsResponse objects (flows, with `flow.time`) to the ring and streams them to followers. */
  publish(responses: readonly Record<string, unknown>[]): void {
    for (const res of responses) {
      const t = (res.flow as { time?: { seconds: number; nanos?: number } } | undefined)?.time;
      const timeUs = t ? t.seconds * 1e6 + Math.floor((t.nanos ?? 0) / 1000) : 0;
      this.entries.push({ seq: this.nextSeq++, timeUs, bytes: encode(res) });
    }
    if (this.entries.length > this.capacity) this.entries.splice(0, this.entries.length - this.capacity);
    for (const f of this.followers) void this.pump(f);
  }

  /** Sends a non-flow response (lost_events, node_status) to every follower, in stream order. */
  broadcast(response: Record<string, unknown>): void {
    const bytes = encode(response);
    for (const f of this.followers) {
      f.control.push(bytes);
      void this.pump(f);
    }
  }

  /** Ends every stream with status OK, as Hubble does when it shuts a stream down. */
  endStreams(): void {
    for (const f of this.followers) {
      f.closed = true;
      f.call.end();
    }
    this.followers.clear();
  }

  /** Fails every stream with a gRPC status. */
  failStreams(code: grpc.status, details = 'injected failure'): void {
    for (const f of this.followers) {
      f.closed = true;
      f.call.emit('error', { code, details });
    }
    this.followers.clear();
  }

  /** Stops the server (the socket disappears). */
  async stop(): Promise<void> {
    for (const f of this.followers) f.closed = true;
    this.followers.clear();
    const server = this.server;
    this.server = undefined;
    server?.forceShutdown();
    if (existsSync(this.socketPath)) rmSync(this.socketPath);
  }

  /** Starts again on the same socket; `keepBuffer: false` loses the ring, as a Cilium restart does. */
  async restart(options: { keepBuffer: boolean }): Promise<void> {
    await this.stop();
    if (!options.keepBuffer) this.entries = [];
    await this.listen();
  }

  private async listen(): Promise<void> {
    if (existsSync(this.socketPath)) rmSync(this.socketPath);
    const server = new grpc.Server();
    server.addService(observerService, {
      GetFlows: (call: grpc.ServerWritableStream<Record<string, unknown>, Uint8Array>) => this.getFlows(call),
    });
    const tls = this.tls;
    const credentials = tls
      ? grpc.ServerCredentials.createSsl(
          tls.ca,
          [{ cert_chain: tls.cert, private_key: tls.key }],
          tls.requireClientCert,
        )
      : grpc.ServerCredentials.createInsecure();
    const bind = tls ? `127.0.0.1:${this.port}` : `unix://${this.socketPath}`;
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(bind, credentials, (err, port) => (err ? reject(err) : resolve(port))),
    );
    this.server = server;
  }

  private getFlows(call: grpc.ServerWritableStream<Record<string, unknown>, Uint8Array>): void {
    const req = call.request;
    this.requests.push(req);
    const since = req.since as { seconds?: string; nanos?: number } | undefined;
    const sinceUs = since ? Number(since.seconds ?? 0) * 1e6 + Math.floor((since.nanos ?? 0) / 1000) : undefined;
    const oldest = this.entries[0]?.seq ?? this.nextSeq;
    const follower: Follower = {
      call,
      cursor: sinceUs === undefined ? this.nextSeq : oldest,
      sinceUs,
      control: [],
      pumping: false,
      closed: false,
    };
    this.followers.add(follower);
    const close = () => {
      follower.closed = true;
      this.followers.delete(follower);
    };
    call.on('cancelled', close);
    call.on('close', close);
    call.on('error', close);
    void this.pump(follower);
  }

  private next(f: Follower): Uint8Array | undefined {
    const control = f.control.shift();
    if (control) return control;
    const oldest = this.entries[0]?.seq ?? this.nextSeq;
    if (f.cursor < oldest) {
      const lost = oldest - f.cursor;
      f.cursor = oldest;
      return encode({ lost_events: { source: 'HUBBLE_RING_BUFFER', num_events_lost: lost } });
    }
    while (f.cursor < this.nextSeq) {
      const entry = this.entries[f.cursor - oldest]!;
      f.cursor++;
      if (f.sinceUs === undefined || entry.timeUs >= f.sinceUs) return entry.bytes;
    }
    return undefined;
  }

  private async pump(f: Follower): Promise<void> {
    if (f.pumping) return;
    f.pumping = true;
    try {
      while (!f.closed) {
        const bytes = this.next(f);
        if (!bytes) return;
        this.sent++;
        if (!f.call.write(bytes)) {
          this.blockedWrites++;
          await new Promise<void>((resolve) => {
            const done = () => {
              f.call.off('drain', done);
              f.call.off('close', done);
              f.call.off('cancelled', done);
              resolve();
            };
            f.call.on('drain', done);
            f.call.on('close', done);
            f.call.on('cancelled', done);
          });
        }
      }
    } finally {
      f.pumping = false;
    }
  }
}

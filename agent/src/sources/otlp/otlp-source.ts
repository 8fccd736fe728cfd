// The OTLP trace receiver as a push source: it serves OTLP/gRPC and
// OTLP/HTTP until the agent stops it, and lands each span as a `spans` row.
// It cannot replay, so every span it does not take is either refused to the
// client (who may retry) or reported in partial_success — and counted.
import type { Source, SourceContext } from '../../pipeline/source.ts';
import type { OtlpSourceConfig } from './config.ts';
import { type GrpcListener, startGrpcServer } from './grpc-server.ts';
import { type HttpListener, startHttpServer } from './http-server.ts';
import { OtlpReceiver } from './receiver.ts';

/** How long shutdown waits for export calls in progress before closing their connections. */
const CLOSE_TIMEOUT_MS = 5000;

export interface OtlpPorts {
  readonly grpc?: number;
  readonly http?: number;
}

// No lag(): for a push source the newest event time measures the clients'
// traffic, not the agent, and would read an idle service as a lagging agent.
export class OtlpSource implements Source {
  readonly kind = 'push';
  readonly name: string;
  private readonly config: OtlpSourceConfig;
  private resolveListening!: (ports: OtlpPorts) => void;
  private rejectListening!: (err: Error) => void;
  /** Resolves with the bound ports once both listeners are up (port 0 picks free ones). */
  readonly listening: Promise<OtlpPorts>;

  constructor(config: OtlpSourceConfig) {
    this.config = config;
    this.name = config.name;
    this.listening = new Promise((resolve, reject) => {
      this.resolveListening = resolve;
      this.rejectListening = reject;
    });
    // A failed start is reported by run(); this only keeps an unobserved promise from being an error.
    this.listening.catch(() => {});
  }

  async run(ctx: SourceContext): Promise<void> {
    const receiver = new OtlpReceiver(ctx, this.name, this.config);
    let grpc: GrpcListener | undefined;
    let http: HttpListener | undefined;
    try {
      if (this.config.grpc.enabled)
        grpc = await startGrpcServer(receiver, this.config.grpc.host, this.config.grpc.port);
      if (this.config.http.enabled)
        http = await startHttpServer(receiver, this.config.http.host, this.config.http.port);
    } catch (err) {
      await Promise.all([grpc?.close(0), http?.close(0)]);
      const error = new Error(`OTLP receiver cannot listen: ${(err as Error).message}`, { cause: err });
      this.rejectListening(error);
      throw error;
    }
    const ports: OtlpPorts = { ...(grpc ? { grpc: grpc.port } : {}), ...(http ? { http: http.port } : {}) };
    ctx.logger.info(
      {
        grpc: grpc ? `${this.config.grpc.host}:${grpc.port}` : 'off',
        http: http ? `${this.config.http.host}:${http.port}` : 'off',
      },
      'OTLP receiver listening',
    );
    this.resolveListening(ports);
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) resolve();
      else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    // New exports are refused from here on; those in progress finish and are offered before the agent flushes.
    receiver.stopping = true;
    await Promise.all([grpc?.close(CLOSE_TIMEOUT_MS), http?.close(CLOSE_TIMEOUT_MS)]);
    ctx.logger.info({}, 'OTLP receiver stopped');
  }
}

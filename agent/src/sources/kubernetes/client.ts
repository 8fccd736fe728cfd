// The API server connection: @kubernetes/client-node for configuration,
// authentication and transport (kubeconfig or in-cluster service account,
// token rotation, TLS), its Watch for streams and its typed Lease API. LISTs
// are read as raw JSON through the same transport, so list items and watch
// objects have one representation (the typed deserializer would turn list
// timestamps into Dates but leave watch timestamps as strings).
import {
  CoordinationV1Api,
  HttpMethod,
  IsomorphicFetchHttpLibrary,
  KubeConfig,
  RequestContext,
  Watch,
} from '@kubernetes/client-node';
import { AGENT_VERSION } from '../../ops/metrics.ts';

/** An API error with its HTTP status (a `Status` object's `code` for in-stream errors). */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string | undefined;
  constructor(status: number, message: string, reason?: string) {
    super(message);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
  }
}

export interface ClientOptions {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
}

export function loadKubeConfig(options: ClientOptions): KubeConfig {
  const kc = new KubeConfig();
  if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
  else {
    if (!process.env.KUBERNETES_SERVICE_HOST)
      throw new Error(
        'no kubeconfig configured and not running in a cluster (KUBERNETES_SERVICE_HOST is not set): set sources[].kubeconfig',
      );
    kc.loadFromCluster();
  }
  if (options.context) kc.setCurrentContext(options.context);
  if (!kc.getCurrentCluster()) throw new Error('the kubeconfig has no current cluster');
  return kc;
}

export class KubeClient {
  readonly kc: KubeConfig;
  readonly leases: CoordinationV1Api;
  private readonly http = new IsomorphicFetchHttpLibrary();
  private readonly server: string;

  constructor(kc: KubeConfig) {
    this.kc = kc;
    this.server = kc.getCurrentCluster()!.server.replace(/\/+$/, '');
    this.leases = kc.makeApiClient(CoordinationV1Api);
  }

  /** A Watch whose inactivity timeout is `idleMs` (client-node's default of 30 s is shorter than bookmark gaps). */
  newWatch(idleMs: number): Watch {
    const w = new Watch(this.kc);
    // requestTimeoutMs is not part of the public API; it is the inactivity timeout since 2.0.1.
    (w as unknown as { requestTimeoutMs: number }).requestTimeoutMs = idleMs;
    return w;
  }

  /** GET `path` and parse the JSON body; non-2xx answers throw KubeApiError with the Status message. */
  async getJson(path: string, query: Record<string, string | undefined>, signal?: AbortSignal): Promise<unknown> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
    const request = new RequestContext(url.toString(), HttpMethod.GET);
    request.setHeaderParam('Accept', 'application/json');
    request.setHeaderParam('User-Agent', `hoptrace/${AGENT_VERSION}`);
    await this.kc.applySecurityAuthentication(request);
    if (signal) request.setSignal(signal);
    const response = await this.http.send(request).toPromise();
    const text = await response.body.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      if (response.httpStatusCode >= 200 && response.httpStatusCode < 300)
        throw new KubeApiError(response.httpStatusCode, `GET ${path}: response is not JSON`, 'InvalidResponse');
    }
    if (response.httpStatusCode < 200 || response.httpStatusCode >= 300) {
      const status = body as { message?: unknown; reason?: unknown } | undefined;
      throw new KubeApiError(
        response.httpStatusCode,
        `GET ${path}: ${response.httpStatusCode} ${typeof status?.message === 'string' ? status.message : ''}`.trim(),
        typeof status?.reason === 'string' ? status.reason : undefined,
      );
    }
    return body;
  }
}

/** HTTP status of an error thrown by client-node (ApiException.code, Watch's statusCode) or by us. */
export function statusOf(err: unknown): number | undefined {
  if (err instanceof KubeApiError) return err.status;
  const e = err as { code?: unknown; statusCode?: unknown } | undefined;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  if (typeof e?.code === 'number') return e.code;
  return undefined;
}

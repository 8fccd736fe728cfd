// /metrics for Prometheus, /healthz for liveness (the process and its event
// loop answer), /readyz for readiness (started, not draining).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface Readiness {
  ready(): { ok: boolean; reason?: string };
}

export async function startHttpServer(
  host: string,
  port: number,
  registry: Registry,
  readiness: Readiness,
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const r = readiness.ready();
      res
        .writeHead(r.ok ? 200 : 503, { 'content-type': 'text/plain' })
        .end(r.ok ? 'ready\n' : `not ready: ${r.reason}\n`);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  server.unref();
  return server;
}

export function boundPort(server: Server): number {
  return (server.address() as AddressInfo).port;
}

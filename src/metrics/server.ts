/**
 * The worker's metrics endpoint: GET /metrics (Prometheus text format), GET /healthz.
 * METRICS_PORT in src/config.ts; 0 picks a free port (tests). It has no authentication and
 * shows positions, PnL and balances, so it listens on loopback unless METRICS_HOST widens it
 * (e.g. 0.0.0.0 in a container that a Prometheus on another host scrapes).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** Where the endpoint listens unless told otherwise: loopback, nothing beyond this machine. */
export const DEFAULT_METRICS_HOST = '127.0.0.1';

export interface MetricsServer {
  /** http://<address actually bound>:<port>, read from the listening socket. */
  url: string;
  /** The address the socket is bound to (server.address()), e.g. 127.0.0.1, 0.0.0.0, ::. */
  host: string;
  port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(o: { registry: Registry; port: number; host?: string }): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    o.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': o.registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err instanceof Error ? err.message : String(err)}\n`),
    );
  });
  // Keep-alive sockets from a scraper must not hold up shutdown.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? DEFAULT_METRICS_HOST, () => resolve());
  });
  // What is really bound, not what was asked for: an operator reading the printed URL must see
  // 0.0.0.0 when the endpoint is reachable from other hosts.
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`,
    host: addr.address,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * `--metrics HOST:PORT`: serves the registry (core/metrics.ts) at GET /metrics, for Prometheus.
 * Off by default. Anything else gets 404; a scrape never touches a transfer.
 */
import http from 'node:http';
import type { Logger } from 'pino';
import { fromSystemError } from './errors.js';
import type { MetricsRole } from './metrics.js';
import { collectProcessMetrics, registry, useRole } from './prom-series.js';

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/** Serves `role`'s series (core/metrics.ts) and the process metrics. */
export async function serveMetrics(host: string, port: number, log: Logger, role: MetricsRole): Promise<MetricsServer> {
  collectProcessMetrics();
  useRole(role);
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('plotferry serves only GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      (err: unknown) => {
        log.warn({ err }, 'metrics could not be collected');
        res.writeHead(500).end();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(fromSystemError(err, `--metrics ${host}:${port}`, 'PF_CONFIG')));
    server.listen(port, host, () => resolve());
  });
  // Never what keeps a process alive: a start that fails after this still exits.
  server.unref();
  const bound = (server.address() as { port: number }).port;
  log.info({ host, port: bound }, `metrics at http://${host}:${bound}/metrics`);
  return {
    port: bound,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** `--metrics HOST:PORT` (harvester, listen, sweep): the Prometheus endpoint, started when asked. */
import type { Logger } from 'pino';
import { PlotferryError } from '../core/errors.js';
import type { MetricsRole } from '../core/metrics.js';

/** Starts the metrics endpoint when asked; returns its closer (a no-op when not). */
export async function startMetrics(
  spec: string | undefined,
  log: Logger,
  role: MetricsRole,
): Promise<() => Promise<void>> {
  if (spec === undefined) return () => Promise.resolve();
  const { parseHostPort } = await import('../core/config.js');
  const { host, port } = parseHostPort(spec, 'metrics');
  const { serveMetrics } = await import('../core/metrics-server.js');
  try {
    const m = await serveMetrics(host, port, log, role);
    return () => m.close();
  } catch (err) {
    // Most often the other unit of the same host, both given one PLOTFERRY_METRICS.
    if (err instanceof PlotferryError && err.code === 'PF_PORT_IN_USE')
      throw new PlotferryError(
        'PF_PORT_IN_USE',
        `${err.message}; two plotferry units on one host need a metrics port each (PLOTFERRY_HARVESTER_METRICS, PLOTFERRY_SWEEP_METRICS)`,
        { cause: err },
      );
    throw err;
  }
}

/**
 * Fixed ports for tests that must name them (a harvester's --port-range). Probing a port, closing
 * it and binding it later races with everything else on the machine that binds port 0. So these
 * come from below the kernel's ephemeral range (32768-60999 by default), which a port-0 bind never
 * hands out, and each test that uses them has a sub-range of its own.
 */
import net from 'node:net';

export const PORT_RANGES = {
  /** faults.test.ts: the fault proxies hold theirs bound on 127.0.0.1. */
  faults: [20_000, 26_000],
  /** bidding.test.ts */
  bidding: [26_000, 32_000],
  /** metrics.test.ts: Prometheus's web port. */
  metrics: [19_000, 20_000],
  /** nats-cluster.test.ts: the route ports of a 3-node cluster. */
  cluster: [18_000, 19_000],
  /** offers.test.ts: a harvester behind a proxy that holds its RESULTs back. */
  offers: [17_000, 18_000],
  /** edge.test.ts: a harvester whose --port-range another process holds. */
  edge: [16_000, 17_000],
} as const;

/** `n` contiguous ports in `range` that are free now on every one of `hosts`. */
export async function freePorts(n: number, range: readonly [number, number], hosts = ['127.0.0.1']): Promise<number> {
  const free = (host: string, port: number) =>
    new Promise<boolean>((res) => {
      const s = net.createServer();
      s.once('error', () => res(false));
      s.listen(port, host, () => s.close(() => res(true)));
    });
  for (let tries = 0; tries < 200; tries++) {
    const base = range[0] + Math.floor(Math.random() * (range[1] - range[0] - n));
    let ok = true;
    for (let p = base; p < base + n && ok; p++) for (const h of hosts) ok &&= await free(h, p);
    if (ok) return base;
  }
  throw new Error(`no ${n} free ports in ${range[0]}-${range[1]}`);
}

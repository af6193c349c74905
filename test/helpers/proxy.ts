/**
 * A TCP proxy for fault injection between sender and listener: it can flip one byte of the
 * sender's stream at a given offset, and throttle the sender's stream.
 */
import net from 'node:net';
import { resultCutter } from './result-cut.js';

export interface ProxyOptions {
  targetPort: number;
  /** Offset in the client->server stream whose byte is inverted. */
  flipAt?: number;
  /** Bytes per second client->server (approximate). */
  rateBytesPerSec?: number;
  /**
   * Cut both connections instead of forwarding the receiver's RESULT frame, for this many
   * connections (a RESULT lost on the way back, after the file was stored).
   */
  dropResults?: number;
}

export interface Proxy {
  port: number;
  /** Bytes forwarded client->server, over all connections. */
  forwarded(): number;
  /** RESULT frames cut (dropResults). */
  droppedResults(): number;
  /** Changes the client->server rate from now on (undefined: as fast as it goes). */
  setRate(bytesPerSec: number | undefined): void;
  close(): Promise<void>;
}

export async function startProxy(opts: ProxyOptions): Promise<Proxy> {
  let forwarded = 0;
  let droppedResults = 0;
  let rate = opts.rateBytesPerSec;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: opts.targetPort });
    sockets.add(client).add(upstream);
    let offset = 0;
    client.on('data', (chunk: Buffer) => {
      if (opts.flipAt !== undefined && opts.flipAt >= offset && opts.flipAt < offset + chunk.length) {
        chunk = Buffer.from(chunk);
        chunk[opts.flipAt - offset] = chunk[opts.flipAt - offset]! ^ 0xff;
      }
      offset += chunk.length;
      forwarded += chunk.length;
      upstream.write(chunk);
      if (rate) {
        client.pause();
        setTimeout(() => client.resume(), (chunk.length / rate) * 1000);
      }
    });
    const cutter =
      opts.dropResults && opts.dropResults > droppedResults
        ? resultCutter(
            (f) => client.write(f),
            () => {
              droppedResults++;
              client.destroy();
              upstream.destroy();
            },
          )
        : (c: Buffer) => void client.write(c);
    upstream.on('data', cutter);
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    const kill = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', kill);
    upstream.on('error', kill);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    forwarded: () => forwarded,
    droppedResults: () => droppedResults,
    setRate: (r) => (rate = r),
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

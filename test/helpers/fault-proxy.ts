/**
 * A TCP proxy in front of a harvester's claim listeners, for fault injection: the harvester
 * listens on 127.0.0.2 and advertises 127.0.0.1, where this proxy listens on the same ports.
 * It throttles the plotter's stream (so a fault lands mid-transfer), counts bytes, and on
 * request flips the next byte, cuts the connection, or cuts it where the RESULT goes back.
 */
import net from 'node:net';
import { resultCutter } from './result-cut.js';

export class FaultProxy {
  /** Bytes forwarded plotter -> harvester, all connections. */
  forwarded = 0;
  private flipNext = false;
  private dropNext = false;
  private cutResultNext = false;
  private readonly servers: net.Server[] = [];
  private readonly sockets = new Set<net.Socket>();
  /** What was done: 'flipped' / 'dropped', for the report. */
  readonly done: string[] = [];

  private constructor(private readonly rateBytesPerSec: number) {}

  static async start(ports: number[], targetHost: string, rateBytesPerSec: number): Promise<FaultProxy> {
    const p = new FaultProxy(rateBytesPerSec);
    for (const port of ports) {
      const server = net.createServer((c) => p.onClient(c, targetHost, port));
      await new Promise<void>((res, rej) => {
        server.once('error', rej);
        server.listen(port, '127.0.0.1', () => res());
      });
      p.servers.push(server);
    }
    return p;
  }

  flip(): void {
    this.flipNext = true;
  }

  drop(): void {
    this.dropNext = true;
  }

  /** Cuts the next connection whose RESULT goes back, at that moment (the file is stored). */
  cutResult(): void {
    this.cutResultNext = true;
  }

  private onClient(client: net.Socket, host: string, port: number): void {
    const upstream = net.connect({ host, port });
    this.sockets.add(client).add(upstream);
    const kill = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    let seen = 0;
    client.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      // Faults land in the file data, past the header.
      if (this.dropNext && seen > 64 * 1024) {
        this.dropNext = false;
        this.done.push('dropped');
        return kill();
      }
      if (this.flipNext && seen > 64 * 1024) {
        this.flipNext = false;
        this.done.push('flipped');
        chunk = Buffer.from(chunk);
        chunk[chunk.length >> 1] = chunk[chunk.length >> 1]! ^ 0x10;
      }
      this.forwarded += chunk.length;
      upstream.write(chunk);
      client.pause();
      setTimeout(() => client.resume(), (chunk.length / this.rateBytesPerSec) * 1000);
    });
    upstream.on(
      'data',
      resultCutter(
        (f) => client.write(f),
        () => {
          this.cutResultNext = false;
          this.done.push('result-cut');
          kill();
        },
        () => this.cutResultNext,
      ),
    );
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', kill);
    upstream.on('error', kill);
    client.on('close', kill);
    upstream.on('close', kill);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(r))));
  }
}

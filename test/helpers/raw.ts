/** A hand-driven protocol client, for feeding the listener what no honest sender would. */
import net from 'node:net';
import { StreamReader } from '../../src/wire/frame.js';
import { decodeMessage, Message } from '../../src/wire/wire-messages.js';

export class RawClient {
  readonly socket: net.Socket;
  private readonly reader = new StreamReader();
  private readonly messages: Message[] = [];
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => {
      this.reader.push(c);
      for (let f = this.reader.readFrame(); f; f = this.reader.readFrame()) this.messages.push(decodeMessage(f));
      this.wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  write(b: Buffer | string): Promise<void> {
    return new Promise((r) => this.socket.write(b, () => r()));
  }

  /** The next message from the listener, or null if the connection closed first. */
  async next(timeoutMs = 10_000): Promise<Message | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.messages.shift();
      if (m) return m;
      if (this.closed) return null;
      if (Date.now() > deadline) throw new Error('no message from the listener in time');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

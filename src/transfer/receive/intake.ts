/**
 * How bytes get from an accepted socket into a ReceiveSession.
 *
 * Node gives user read buffers (`onread`) only to sockets it constructs with that option, and
 * sockets accepted by net.Server are not (PERF-NOTES). The Socket constructor does take an
 * existing handle together with `onread`, and its buffer function is asked for the next read
 * target after every read (lib/internal/stream_base_commons.js, onStreamRead). So the server
 * accepts paused, and the accepted handle is moved into a new Socket built with `onread`.
 * `_handle` is not public API: where it is missing or adoption throws, we fall back to
 * 'data' events (the session copies those into its pool), which works everywhere, slower.
 */
import net from 'node:net';

export interface ReadTarget {
  /** Where the next read should land. */
  nextReadBuffer(): Buffer;
  /** `n` bytes arrived at the start of `buf`. */
  onRead(buf: Buffer, n: number): void;
}

export type IntakeMode = 'user-buffer' | 'stream';

export interface Intake {
  socket: net.Socket;
  mode: IntakeMode;
  /** Starts the flow of bytes into `target`. */
  attach(target: ReadTarget): void;
}

/**
 * The TCP server every receiver (listener, claim, speedtest) accepts on.
 * allowHalfOpen: a sender that ends its side must still be able to read our answer.
 * pauseOnConnect: no byte is read before the intake has chosen where bytes go (createIntake
 * needs it).
 */
export function createReceiverServer(onConnection?: (s: net.Socket) => void): net.Server {
  return net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, onConnection);
}

/** `accepted` must come from createReceiverServer() (a server with `pauseOnConnect: true`). */
export function createIntake(accepted: net.Socket, preferUserBuffer = true): Intake {
  if (preferUserBuffer) {
    const adopted = adopt(accepted);
    if (adopted) return adopted;
  }
  return {
    socket: accepted,
    mode: 'stream',
    attach(target) {
      accepted.on('data', (c: Buffer) => target.onRead(c, c.length));
      accepted.resume();
    },
  };
}

function adopt(accepted: net.Socket): Intake | undefined {
  const holder = accepted as unknown as { _handle?: unknown };
  const handle = holder._handle;
  if (!handle || typeof handle !== 'object') return undefined;
  let target: ReadTarget | undefined;
  // Until a target is attached, reads land here; the target is given them like any other read.
  const early = Buffer.allocUnsafe(64 * 1024);
  let socket: net.Socket;
  try {
    socket = new net.Socket({
      handle,
      allowHalfOpen: true,
      readable: true,
      writable: true,
      // pauseOnCreate: the first read starts in attach(), once the target exists.
      pauseOnCreate: true,
      onread: {
        buffer: () => (target ? target.nextReadBuffer() : early),
        callback: (n: number, buf: Uint8Array) => {
          target?.onRead(buf as Buffer, n);
        },
      },
    } as net.SocketConstructorOpts);
  } catch {
    return undefined;
  }
  // The accepted Socket no longer owns the handle: drop it without closing the handle, which
  // also takes it off the server's connection count (the listener tracks its sessions itself).
  holder._handle = null;
  accepted.destroy();
  return {
    socket,
    mode: 'user-buffer',
    attach(t) {
      target = t;
      socket.resume();
    },
  };
}

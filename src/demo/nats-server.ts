/**
 * Starts a private nats-server (the demo's, and every integration test's own): a random port
 * chosen by the server itself (`-p -1`) and read back from its ports file, as nats.js's own test
 * launcher does, so several run in parallel. stop() and restart() (on the same port) let tests
 * exercise reconnection.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PlotferryError } from '../core/errors.js';

export interface NatsServer {
  url: string;
  port: number;
  /** The server process's id while it runs (0 when stopped). */
  readonly pid: number;
  stop(): Promise<void>;
  /** Starts again on the same port after stop(). */
  restart(): Promise<void>;
}

export function natsServerPath(): string | undefined {
  for (const p of [
    spawnSync('sh', ['-c', 'command -v nats-server']).stdout?.toString().trim(),
    '/usr/sbin/nats-server',
    '/usr/bin/nats-server',
  ]) {
    if (p && fs.existsSync(p)) return p;
  }
  return undefined;
}

export async function startNatsServer(args: string[] = []): Promise<NatsServer> {
  const bin = natsServerPath();
  if (!bin) {
    throw new PlotferryError(
      'PF_CONFIG',
      'nats-server is not installed: run `bash scripts/ensure-tools.sh nats-server` (Debian: apt-get install nats-server)',
    );
  }
  let child: ChildProcess | undefined;
  let port = -1;

  const launch = async () => {
    // A fresh ports directory per launch, removed once the port is known.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-nats-'));
    try {
      await waitForPort(dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  const waitForPort = async (dir: string) => {
    child = spawn(bin, ['-a', '127.0.0.1', '-p', String(port), '--ports_file_dir', dir, ...args], { stdio: 'ignore' });
    const portsFile = path.join(dir, `nats-server_${child.pid}.ports`);
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}`);
      if (fs.existsSync(portsFile)) {
        try {
          const url = (JSON.parse(fs.readFileSync(portsFile, 'utf8')) as { nats: string[] }).nats[0]!;
          port = Number(new URL(url).port);
          return;
        } catch {
          // written but not complete yet
        }
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error('nats-server did not start within 10 s');
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(t);
  };

  await launch();
  const server: NatsServer = {
    get url() {
      return `nats://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    get pid() {
      return child?.pid ?? 0;
    },
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
  };
  process.once('exit', () => child?.kill('SIGKILL'));
  return server;
}

/**
 * Where a bench scenario's two ends run.
 *
 * - loopback: both ends in this network namespace, 127.0.0.1.
 * - 10gbe: an emulated 10GbE link. Two network namespaces joined by a veth pair, with
 *   `tc qdisc ... tbf rate 10gbit` on both ends (netem is not available on these machines).
 *   Senders run in one namespace, receivers in the other; files stay where they are (network
 *   namespaces do not change the mount namespace). Needs root; removed again by close().
 */
import { spawn, spawnSync } from 'node:child_process';
import { hasCommand } from './proc.js';

export interface Link {
  name: string;
  /** Address receivers listen on and senders connect to. */
  host: string;
  /** Prefix for a command run on the sending / receiving side. */
  sendPrefix: string[];
  recvPrefix: string[];
  /** A process living in the receivers' namespace, for reading its /proc/<pid>/net. */
  recvAnchorPid?: number;
  describe: string;
  close(): void;
}

export function loopback(): Link {
  return {
    name: 'loopback',
    host: '127.0.0.1',
    sendPrefix: [],
    recvPrefix: [],
    describe: 'loopback (127.0.0.1)',
    close: () => undefined,
  };
}

/** Why the 10gbe scenario cannot run here, or undefined when it can. */
export function cannotEmulate(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, veth, tc)';
  for (const tool of ['ip', 'tc']) {
    if (!hasCommand(tool)) return `${tool} is missing (Debian: apt-get install iproute2)`;
  }
  return undefined;
}

function run(argv: string[]): void {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim()}`);
}

export function tenGbE(rate = '10gbit'): Link {
  const tag = `pfb${process.pid % 100000}`;
  const [a, b] = [`${tag}-tx`, `${tag}-rx`];
  const [va, vb] = [`${tag}a`, `${tag}b`];
  // Distinct per process so two bench runs do not collide.
  const net = `10.${200 + (process.pid % 50)}.${(process.pid >> 6) % 250}`;
  let anchor: ReturnType<typeof spawn> | undefined;
  const close = () => {
    anchor?.kill('SIGKILL');
    spawnSync('ip', ['netns', 'del', a]);
    spawnSync('ip', ['netns', 'del', b]);
  };
  try {
    run(['ip', 'netns', 'add', a]);
    run(['ip', 'netns', 'add', b]);
    run(['ip', 'link', 'add', va, 'netns', a, 'type', 'veth', 'peer', 'name', vb, 'netns', b]);
    for (const [ns, dev, ip] of [
      [a, va, `${net}.1`],
      [b, vb, `${net}.2`],
    ] as const) {
      run(['ip', '-n', ns, 'addr', 'add', `${ip}/24`, 'dev', dev]);
      run(['ip', '-n', ns, 'link', 'set', dev, 'up']);
      run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      // burst: at least rate/HZ, or tbf itself caps below the rate (4 MB measured 9.5 Gbit/s with iperf3).
      run(['tc', '-n', ns, 'qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate', rate, 'burst', '4mb', 'latency', '20ms']);
    }
    anchor = spawn('ip', ['netns', 'exec', b, 'sleep', 'infinity'], { stdio: 'ignore' });
  } catch (err) {
    close();
    throw err;
  }
  return {
    name: '10gbe',
    host: `${net}.2`,
    sendPrefix: ['ip', 'netns', 'exec', a],
    recvPrefix: ['ip', 'netns', 'exec', b],
    recvAnchorPid: anchor.pid,
    describe: `emulated ${rate} link: two network namespaces, veth, tbf rate ${rate} on both ends`,
    close,
  };
}

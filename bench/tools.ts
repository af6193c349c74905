/**
 * The tools the bench compares, and one timed transfer with each.
 *
 * Every tool moves the same source file to `<target>/bench.plot` on the scenario's receiving
 * side (iperf3 moves memory to memory: the link's ceiling). The clock starts once the receiver
 * listens and stops when sender and receiver have both finished, so each tool's start-up counts;
 * on the disk scenario the copy is also synced (`sync FILE`) inside the clock for the tools that
 * do not fsync themselves, as plotferry does before it answers.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Link } from './link.js';
import type { Peer, PeerKind } from './peers.js';
import { CLI, peerTarget } from './peers.js';
import { refBinary } from './ref.js';
import { Finished, freePort, hasCommand, listening, procCpu, procRssMB, Timed, timed } from './proc.js';

export const TOOLS = [
  'plotferry',
  'plotferry-wb0',
  'nc',
  'socat',
  'curl',
  'rsyncd',
  'rsync-ssh',
  'scp',
  'iperf3',
  'c-ref',
] as const;
export type Tool = (typeof TOOLS)[number];

/**
 * `syncsItself`: fsyncs its copy before it exits (or writes none), so the disk scenario adds no `sync`.
 * `diskOnly`: runs in the disk scenario only.
 */
export const TOOL_INFO: Record<
  Tool,
  { label: string; needs: string[]; peer?: PeerKind; root?: boolean; syncsItself?: boolean; diskOnly?: boolean }
> = {
  plotferry: { label: 'plotferry (xxh64 verified)', needs: [], peer: 'plotferry', syncsItself: true },
  // The same, without write-behind: what --flush-every (receive/disk-writer.ts) is worth on a disk.
  'plotferry-wb0': {
    label: 'plotferry --flush-every 0 (no write-behind)',
    needs: [],
    peer: 'plotferry-wb0',
    syncsItself: true,
    diskOnly: true,
  },
  nc: { label: 'nc -N (netcat-openbsd)', needs: ['nc'] },
  socat: { label: 'socat -b 1048576', needs: ['socat'] },
  curl: { label: 'curl -T to an HTTP PUT receiver', needs: ['curl'], peer: 'http' },
  rsyncd: { label: 'rsync -W to an rsync daemon', needs: ['rsync'], peer: 'rsyncd' },
  'rsync-ssh': { label: 'rsync -W over ssh, aes128-gcm', needs: ['rsync', 'ssh', 'sshd'], peer: 'sshd', root: true },
  scp: { label: 'scp, aes128-gcm', needs: ['scp', 'sshd'], peer: 'sshd', root: true },
  iperf3: { label: 'iperf3 (memory to memory: the link)', needs: ['iperf3'], syncsItself: true },
  // Not a peer: the cheapest verified copy C can do here (bench/ref/pfref.c), to tell what
  // hashing both ends costs on this machine from what plotferry's own code costs.
  'c-ref': { label: 'C reference: sendfile, XXH3 verified', needs: [], syncsItself: true },
};

/** Why `tool` cannot run on this machine, or undefined. */
export function unavailable(tool: Tool): string | undefined {
  const info = TOOL_INFO[tool];
  if (tool === 'c-ref') return refBinary().why;
  if (info.root && process.getuid?.() !== 0) return 'needs root (its sshd)';
  for (const bin of info.needs) {
    if (!hasCommand(bin)) return `${bin} is missing (scripts/bench-setup.sh installs it)`;
  }
  return undefined;
}

export interface RunContext {
  link: Link;
  src: string;
  target: string;
  scratch: string;
  size: number;
  peers: Map<PeerKind, Peer>;
  /** Sync the copy inside the clock (disk scenario). */
  syncCopy: boolean;
}

export interface Run {
  tool: Tool;
  round: number;
  seconds: number;
  mbps: number;
  ok: boolean;
  senderCpu: number;
  receiverCpu: number;
  senderRssMB?: number;
  receiverRssMB?: number;
  error?: string;
}

const SSH_OPTS = (key: string) => [
  '-i',
  key,
  '-o',
  'StrictHostKeyChecking=no',
  '-o',
  'UserKnownHostsFile=/dev/null',
  '-o',
  'BatchMode=yes',
  '-o',
  'LogLevel=ERROR',
  '-c',
  'aes128-gcm@openssh.com',
];

function sameBytes(a: string, b: string): boolean {
  return fs.existsSync(b) && fs.statSync(b).size === fs.statSync(a).size && spawnSync('cmp', ['-s', a, b]).status === 0;
}

export async function runOnce(tool: Tool, round: number, ctx: RunContext): Promise<Run> {
  const { link, src, scratch, size } = ctx;
  const target = peerTarget(TOOL_INFO[tool].peer, ctx.target);
  for (const f of fs.readdirSync(target)) fs.rmSync(path.join(target, f), { force: true, recursive: true });
  const out = path.join(target, 'bench.plot');
  const host = link.host;
  const send = (argv: string[], io: { stdin?: string } = {}) => timed(argv, scratch, io, link.sendPrefix);
  const recv = (argv: string[], io: { stdout?: string } = {}) => timed(argv, scratch, io, link.recvPrefix);
  const peer = TOOL_INFO[tool].peer ? ctx.peers.get(TOOL_INFO[tool].peer) : undefined;
  const peerCpu0 = peer ? procCpu(peer.pid) : 0;
  let receiver: Timed | undefined;
  let sender: Timed;

  // A port free here may be taken in the receivers' namespace: a receiver that exits before it
  // listens is started again on another port.
  let port = 0;
  for (let attempt = 1; !peer; attempt++) {
    port = await freePort();
    if (tool === 'nc') receiver = recv(['nc', '-l', host, String(port)], { stdout: out });
    else if (tool === 'socat')
      receiver = recv([
        'socat',
        '-u',
        '-b',
        '1048576',
        `TCP-LISTEN:${port},bind=${host},reuseaddr`,
        `OPEN:${out},creat,trunc`,
      ]);
    else if (tool === 'c-ref') receiver = recv([refBinary().bin!, 'recv', host, String(port), out]);
    else receiver = recv(['iperf3', '-s', '-1', '-B', host, '-p', String(port)]);
    const exited = receiver.done.then(() => 'exited' as const);
    if ((await Promise.race([listening(port, link.recvAnchorPid).then(() => 'up' as const), exited])) === 'up') break;
    if (attempt === 3) throw new Error(`${tool}'s receiver did not start: ${(await receiver.done).stderr.trim()}`);
  }
  const t0 = process.hrtime.bigint();
  switch (tool) {
    case 'plotferry':
    case 'plotferry-wb0':
      sender = send([
        process.execPath,
        CLI,
        'send',
        '--to',
        `${host}:${peer!.port}`,
        '--token',
        peer!.secret,
        '--json',
        '--log-level',
        'warn',
        src,
      ]);
      break;
    case 'nc':
      sender = send(['nc', '-N', host, String(port)], { stdin: src });
      break;
    case 'socat':
      sender = send(['socat', '-u', '-b', '1048576', `OPEN:${src}`, `TCP:${host}:${port}`]);
      break;
    case 'curl':
      sender = send(['curl', '-sS', '--fail', '-T', src, `http://${host}:${peer!.port}/bench.plot`]);
      break;
    case 'rsyncd':
      sender = send(['rsync', '-W', src, `rsync://${host}:${peer!.port}/bench/bench.plot`]);
      break;
    case 'rsync-ssh':
      sender = send([
        'rsync',
        '-W',
        '-e',
        ['ssh', '-p', String(peer!.port), ...SSH_OPTS(peer!.secret)].join(' '),
        src,
        `${host}:${out}`,
      ]);
      break;
    case 'scp':
      sender = send(['scp', '-q', '-P', String(peer!.port), ...SSH_OPTS(peer!.secret), src, `${host}:${out}`]);
      break;
    case 'c-ref':
      sender = send([refBinary().bin!, 'send', host, String(port), src]);
      break;
    case 'iperf3':
      sender = send(['iperf3', '-c', host, '-p', String(port), '-n', String(size), '-J']);
      break;
  }
  const [s, r] = await Promise.all([sender.done, receiver?.done]);
  if (ctx.syncCopy && !TOOL_INFO[tool].syncsItself && fs.existsSync(out)) spawnSync('sync', [out]);
  let seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const failed = (x: Finished | undefined, who: string) =>
    x && x.code !== 0 ? `${who} exited ${x.code}: ${x.stderr.trim().slice(-300)}` : undefined;
  let error = failed(s, 'sender') ?? failed(r, 'receiver');
  if (tool === 'iperf3' && !error) {
    // iperf3's own figure: bytes received over its receiver's seconds (no start-up, no file).
    try {
      const result = JSON.parse(s.stdout) as { end: { sum_received: { seconds: number; bytes: number } } };
      const end = result.end.sum_received;
      seconds = end.seconds * (size / end.bytes);
    } catch {
      error = 'iperf3 printed no JSON result';
    }
  } else if (!error && !sameBytes(src, out)) error = 'the copy is not byte-exact';
  return {
    tool,
    round,
    seconds,
    mbps: size / 1e6 / seconds,
    ok: !error,
    ...(error ? { error } : {}),
    senderCpu: s.cpu,
    receiverCpu: r ? r.cpu : peer ? procCpu(peer.pid) - peerCpu0 : 0,
    senderRssMB: s.rssMB,
    ...(r
      ? { receiverRssMB: r.rssMB }
      : peer?.kind.startsWith('plotferry')
        ? { receiverRssMB: procRssMB(peer.pid) }
        : {}),
  };
}

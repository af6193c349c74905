/**
 * The bench's throwaway receivers, started on the scenario's receiving side only (loopback or
 * the bench's own namespace), each on a free port, all files under the bench's scratch
 * directory; the machine's own sshd and rsync configuration are never touched. stop() ends them.
 *
 * - plotferry: `plotferry listen` with a random token; plotferry-wb0 the same with --flush-every 0.
 * - http: bench/http-receiver.js, streaming a PUT body to a file.
 * - rsyncd: `rsync --daemon --no-detach` with a module "bench" over the target directory.
 * - sshd: its own config, a generated host key and client key, on its own port (root only:
 *   sshd needs root for privilege separation).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Link } from './link.js';
import { freePort, listening } from './proc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const CLI = path.resolve(here, '../src/cli/main.js');
export const HTTP_RECEIVER = path.join(here, 'http-receiver.js');

export type PeerKind = 'plotferry' | 'plotferry-wb0' | 'http' | 'rsyncd' | 'sshd';

export interface Peer {
  kind: PeerKind;
  pid: number;
  port: number;
  /** plotferry's token; sshd's client key file. */
  secret: string;
  stop(): void;
}

export interface PeerPlace {
  link: Link;
  /** Where received files go. */
  target: string;
  /** Config files, keys, logs. */
  scratch: string;
}

async function launch(kind: PeerKind, argv: string[], at: PeerPlace, port: number, secret: string): Promise<Peer> {
  const full = [...at.link.recvPrefix, ...argv];
  const log = fs.openSync(path.join(at.scratch, `${kind}.log`), 'a');
  const child = spawn(full[0]!, full.slice(1), { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  let exited = false;
  child.on('exit', () => (exited = true));
  try {
    await Promise.race([
      listening(port, at.link.recvAnchorPid),
      new Promise((_, rej) => child.on('exit', (c) => rej(new Error(`${kind} exited with ${c}`)))),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    const tail = fs.readFileSync(path.join(at.scratch, `${kind}.log`), 'utf8').slice(-400);
    throw new Error(`${kind} peer did not start: ${(err as Error).message}\n${tail}`, { cause: err });
  }
  return { kind, pid: child.pid!, port, secret, stop: () => void (exited || child.kill('SIGTERM')) };
}

/**
 * Where a peer's files land: `target`, or beside it for plotferry-wb0 (a directory serves one
 * plotferry process).
 */
export const peerTarget = (kind: PeerKind | undefined, target: string) =>
  kind === 'plotferry-wb0' ? `${target}-wb0` : target;

export async function startPeer(kind: PeerKind, at: PeerPlace): Promise<Peer> {
  const port = await freePort();
  const host = at.link.host;
  switch (kind) {
    case 'plotferry':
    case 'plotferry-wb0': {
      const token = randomBytes(16).toString('hex');
      const dir = peerTarget(kind, at.target);
      fs.mkdirSync(dir, { recursive: true });
      // --allow-root-fs: the bench's disks are scratch directories, often on the root filesystem.
      const argv = [
        process.execPath,
        CLI,
        'listen',
        '--allow-root-fs',
        '--dir',
        dir,
        '--host',
        host,
        '--port',
        String(port),
      ];
      if (kind === 'plotferry-wb0') argv.push('--flush-every', '0');
      return launch(kind, [...argv, '--token', token], at, port, token);
    }
    case 'http':
      return launch(
        kind,
        [process.execPath, HTTP_RECEIVER, '--dir', at.target, '--host', host, '--port', String(port)],
        at,
        port,
        '',
      );
    case 'rsyncd': {
      const conf = path.join(at.scratch, 'rsyncd.conf');
      const root = process.getuid?.() === 0;
      fs.writeFileSync(
        conf,
        [
          `pid file = ${path.join(at.scratch, 'rsyncd.pid')}`,
          'use chroot = no',
          ...(root ? ['uid = root', 'gid = root'] : []),
          '[bench]',
          `path = ${at.target}`,
          'read only = no',
          '',
        ].join('\n'),
      );
      return launch(
        kind,
        ['rsync', '--daemon', '--no-detach', `--config=${conf}`, `--port=${port}`, `--address=${host}`],
        at,
        port,
        '',
      );
    }
    case 'sshd': {
      const dir = path.join(at.scratch, 'sshd');
      fs.mkdirSync(dir, { recursive: true });
      const key = (f: string) =>
        spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, f)], { stdio: 'ignore' });
      key('host_key');
      key('client_key');
      fs.copyFileSync(path.join(dir, 'client_key.pub'), path.join(dir, 'authorized_keys'));
      fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
      const cfg = path.join(dir, 'sshd_config');
      fs.writeFileSync(
        cfg,
        [
          `Port ${port}`,
          `ListenAddress ${host}`,
          `HostKey ${path.join(dir, 'host_key')}`,
          `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
          `PidFile ${path.join(dir, 'sshd.pid')}`,
          'PermitRootLogin prohibit-password',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'UsePAM no',
          'StrictModes no',
          'Ciphers aes128-gcm@openssh.com,chacha20-poly1305@openssh.com',
          'Subsystem sftp internal-sftp',
          '',
        ].join('\n'),
      );
      const sshd = fs.existsSync('/usr/sbin/sshd') ? '/usr/sbin/sshd' : 'sshd';
      return launch(kind, [sshd, '-D', '-e', '-f', cfg], at, port, path.join(dir, 'client_key'));
    }
  }
}

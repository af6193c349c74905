/**
 * One error type for the whole project. Every failure a farmer can meet carries a stable
 * `code`; the same code travels in the wire ERROR frame, in logs and in `--json` output, so a
 * failure on the harvester reads the same on the plotter.
 */

export const ErrorCodes = {
  /** Token missing or wrong. */
  PF_AUTH: 'the receiver refused the token: pass the same --token (or PLOTFERRY_TOKEN) on both ends',
  /** Bytes that are not plotferry's protocol (wrong magic, bad frame, bad JSON). */
  PF_PROTOCOL: "the peer does not speak plotferry's protocol: check host and port point at `plotferry listen`",
  /** Refused by the receiver's policy, though the protocol was spoken right. */
  PF_REFUSED:
    "the receiver refused this by its policy (a claim's listener takes only its one file, a speedtest listener only its speedtest): ask for a new claim or speedtest",
  /** Peer speaks another protocol version. */
  PF_VERSION: 'the two ends run incompatible plotferry versions: upgrade the older one',
  /** A header frame over the size limit. */
  PF_HEADER_TOO_LARGE: 'a protocol header was larger than allowed; the peer is not plotferry or is misbehaving',
  /** A plot name that is not a plain file name. */
  PF_BAD_NAME: 'plot names must be plain file names (no "/", no "..", no leading dot, no control characters)',
  /** The final name already exists on the receiver. */
  PF_EXISTS: 'the receiver already holds a file with this name; nothing was overwritten, the source is kept',
  /** No directory has room for size + reserve. */
  PF_NO_SPACE: 'no receiving directory has room for this file plus the reserve: add a disk or free space',
  /** No receiving directory can be used at all (each is missing, not a directory, disabled, ...). */
  PF_NO_DISK:
    'no receiving directory can be used (the message says why for each: missing, not a directory, disabled, not mounted, out of rotation, served by another process): fix them or change --dir',
  /** Another live plotferry receives into this directory. */
  PF_DIR_IN_USE:
    'another live plotferry (listen, harvester or sweep --watch) serves this directory: stop it, or give each process its own directories',
  /** Every directory with room is busy with another write. */
  PF_BUSY: 'every receiving directory with room is busy; the sender retries later',
  /** Unsupported hash algorithm. */
  PF_UNSUPPORTED_HASH: 'the receiver does not support this hash algorithm: upgrade the older end',
  /** The first bytes are not a Chia plot header of a known layout, or the header describes another file. */
  PF_NOT_A_PLOT:
    'this file does not start like a Chia plot of a layout plotferry knows (PoS1 chiapos or BladeBit, PoS2), or its header does not fit the file; it was not sent (or not kept), the source is intact: check what it is, or pass --any-file to send files of a format plotferry does not know yet',
  /** A plot whose header says it is longer than the file: still being written, or cut short. */
  PF_INCOMPLETE:
    'the plot is not finished: its header says it holds more than the file does (still being written, or cut short by a crash or a full disk); it was not sent and its source is kept: let the plotter finish (a sweep sends it then), or delete a plot that was cut short',
  /** The stream ended before the declared size. */
  PF_SHORT_STREAM: 'the connection ended before the whole file arrived; nothing was kept, the source is intact',
  /** Hash computed by the receiver differs from the sender's. */
  PF_HASH_MISMATCH:
    'the data was corrupted in transit (hashes differ); nothing was kept, the source is intact: check NICs, cables and RAM',
  /** The receiving disk filled up mid-transfer. */
  PF_DISK_FULL: 'the receiving disk filled up; the partial file was removed, the source is intact',
  /** A receiving directory is no longer on the filesystem it joined on (its disk unmounted or gone). */
  PF_DISK_GONE:
    "a receiving directory's disk is gone (unmounted, or the directory removed): it is out of rotation and nothing is written there until that same filesystem is mounted there again; to use another disk there, restart the receiver",
  /** The OS refused access to a file or directory (EACCES, EPERM). */
  PF_PERMISSION:
    'permission denied: the user plotferry runs as must be able to read and write the directory (check its owner and mode, `ls -ld DIR`)',
  /** Any other I/O error on a disk. */
  PF_IO: 'a disk I/O error happened; check the disk (dmesg, smartctl)',
  /** The TCP connection failed or broke. */
  PF_CONNECTION: 'the connection failed or broke; check the host, port and network, then retry',
  /** Nothing arrived for too long. */
  PF_TIMEOUT: "the peer stopped answering in time; check the network and the other end's logs",
  /** No harvester answered an announcement. */
  PF_NO_BID:
    'no harvester bid: check that harvesters run (`plotferry status`), use the same --nats and --prefix, and have a disk with room',
  /** The NATS connection is down; plotferry reconnects on its own. */
  PF_NATS:
    'NATS cannot be reached (the log says since when): check that nats-server runs at --nats and the network to it; plotferry reconnects by itself',
  /** A listening port is taken by another process. */
  PF_PORT_IN_USE:
    "the port is in use by another process (another plotferry?): stop it, or choose another port (--port 0, or a harvester's --port-range 0, picks a free one; --metrics takes a port of its own per unit)",
  /** NATS refused the credentials. */
  PF_NATS_AUTH:
    'NATS refused our credentials: check --nats-token, --nats-user/--nats-pass or --nats-creds against the server config',
  /** The receiver is stopping. */
  PF_SHUTTING_DOWN: 'the receiver is shutting down; retry when it is back',
  /** A source file problem on the sender. */
  PF_SOURCE:
    'the source could not be used: check the path (a missing file, a directory, or a symbolic link, which plotferry never follows: give the plot itself) and its permissions',
  /** Another plotferry process (a sweep, a send) is handling this plot now. */
  PF_LOCKED:
    'another plotferry process is handling this plot now (a sweep or a send); it was not sent twice: let that one finish',
  /** Delivered and verified, but --move could not delete the source. */
  PF_DELETE_FAILED:
    'the plot was delivered and verified; only its source could not be deleted: check the permissions of its directory, then delete it by hand (the next sweep also removes it once it can)',
  /** The source changed while it was sent, or before it was deleted (storage/source.ts). */
  PF_SOURCE_CHANGED:
    'the source file changed while it was sent or before it was to be deleted (its contents, size, times or inode); it was kept: do not send plots that are still being written, and compare a stored copy with the source before removing either',
  /** The copy a receiver reports holding is the source itself, seen through another path. */
  PF_SAME_FILE:
    "the receiver's copy is this very file (its directory is the source directory, reached through NFS, a bind mount or a harvester's own disk): nothing was removed; sweep and send only plotters' own plot directories",
  /** Bad options or config. */
  PF_CONFIG: 'an option or config value is invalid; see --help',
  /** The transfer was aborted locally (signal). */
  PF_ABORTED: 'the transfer was aborted; the source is intact',
  /** The other end reported a code this version does not know (its message keeps the code). */
  PF_UNKNOWN:
    'the other end reported an error this version of plotferry does not know; its message says what happened: upgrade the older end',
  /** An internal bug. */
  PF_INTERNAL: 'an internal error happened; please report it with the log',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export function isErrorCode(s: unknown): s is ErrorCode {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(ErrorCodes, s);
}

/**
 * A code and message that came from the other end: a code this version does not know becomes
 * PF_UNKNOWN, with the code kept in front of the message, so nothing the peer said is lost.
 */
export function remoteCode(code: string, message: string): { code: ErrorCode; message: string } {
  return isErrorCode(code) ? { code, message } : { code: 'PF_UNKNOWN', message: `${code}: ${message}` };
}

/** Codes after which trying again later can succeed without anyone changing anything. */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'PF_BUSY',
  'PF_NO_BID',
  'PF_SHORT_STREAM',
  'PF_HASH_MISMATCH',
  'PF_CONNECTION',
  'PF_TIMEOUT',
  'PF_SHUTTING_DOWN',
  'PF_NATS',
]);

/** A receiving disk's own failure: it leaves that receiver's rotation, and the plot goes elsewhere. */
export const DISK_FAULTS: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['PF_IO', 'PF_DISK_FULL', 'PF_PERMISSION']);

export class PlotferryError extends Error {
  readonly code: ErrorCode;
  override readonly name = 'PlotferryError';

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** What the farmer can do about it. */
  get hint(): string {
    return ErrorCodes[this.code];
  }

  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }
}

/** An error as `--json` output carries it, the same shape in every command. */
export interface ErrorJson {
  code: string;
  message: string;
  hint: string;
}
export const errorJson = (e: ErrorJson): ErrorJson => ({ code: e.code, message: e.message, hint: e.hint });

/** Any thrown value as a PlotferryError: ours as it is, anything else as PF_INTERNAL (a bug). */
export function asPlotferryError(err: unknown): PlotferryError {
  return err instanceof PlotferryError ? err : new PlotferryError('PF_INTERNAL', String(err), { cause: err });
}

/**
 * Wraps an OS error once, where it enters, into a PlotferryError with the original as cause.
 * `context` says what was being done ("writing /mnt/d1/x.plot").
 */
export function fromSystemError(err: unknown, context: string, fallback: ErrorCode = 'PF_IO'): PlotferryError {
  if (err instanceof PlotferryError) return err;
  const e = err as NodeJS.ErrnoException;
  const sys = e?.code;
  let code: ErrorCode = fallback;
  switch (sys) {
    case 'ENOSPC':
    case 'EDQUOT':
    case 'EFBIG':
      code = 'PF_DISK_FULL';
      break;
    case 'ECONNREFUSED':
    case 'ECONNRESET':
    case 'EPIPE':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'ECONNABORTED':
      code = 'PF_CONNECTION';
      break;
    case 'ETIMEDOUT':
      code = 'PF_TIMEOUT';
      break;
    case 'EACCES':
    case 'EPERM':
      code = fallback === 'PF_IO' ? 'PF_PERMISSION' : fallback;
      break;
    case 'EADDRINUSE':
      code = 'PF_PORT_IN_USE';
      break;
    default:
      break;
  }
  const detail = e?.message ?? String(err);
  return new PlotferryError(code, `${context}: ${detail}`, { cause: err });
}

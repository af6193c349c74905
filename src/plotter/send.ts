/**
 * `plotferry send`'s work, one file after another: for each, lock it, transfer it (direct or by bidding, the caller's
 * choice), and with `--move` delete the source, saying exactly what happened:
 * - a receiver that holds the name already with a verified identical copy, provably another
 *   file (plotter/held.ts), counts as delivered: that is a RESULT lost on the way back, and
 *   every later run would otherwise fail the same way;
 * - a source that could not be deleted after a verified delivery is a delivery with a
 *   `deleteError`, not a failed one.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { asPlotferryError, fromSystemError, PlotferryError } from '../core/errors.js';
import { removeSource, SendResult } from '../transfer/sender.js';
import { ExistsError } from '../wire/messages.js';
import { HeldError } from './bidding.js';
import { deliveredAs } from './held.js';
import { tryLock } from './lock.js';

export interface Sent extends SendResult {
  /** Who stored it: the harvester's id, or HOST:PORT in direct mode. */
  harvester: string;
  /** Stored before this attempt (a lost RESULT), verified identical; nothing sent again. */
  alreadyStored?: true;
}

export type Delivery =
  | (Sent & {
      ok: true;
      moved: boolean;
      /** --move was asked and the delete failed (the plot is stored all the same). */
      deleteError?: PlotferryError;
    })
  | { ok: false; error: PlotferryError };

export interface DeliverOptions {
  file: string;
  name: string;
  move: boolean;
  log: Logger;
  /** Sends the file; `probe` goes into HELLO (wire/probe.ts). `where` names the receiver. */
  transfer(probe: string | undefined): Promise<Sent>;
  where: string;
}

export async function deliver(opts: DeliverOptions): Promise<Delivery> {
  let lock;
  try {
    const l = await tryLock(opts.file, 'send');
    if (!l.ok)
      return {
        ok: false,
        error: new PlotferryError('PF_BUSY', `${l.holder} is handling ${opts.file}; it was not sent twice`),
      };
    lock = l.lock;
  } catch (err) {
    // A source directory we cannot write to (read-only, not ours): no lock, so no probe either,
    // and then no copy the receiver holds can be proven to be another file.
    opts.log.debug({ err }, 'could not lock the source; sending without a probe');
  }
  try {
    let sent: Sent;
    try {
      sent = await opts.transfer(lock?.token);
    } catch (err) {
      // The receiver holds the name (a RESULT lost on the way back), or a harvester did already.
      const held = err instanceof HeldError ? err.holder : err instanceof ExistsError ? err.held : undefined;
      if (!held || !lock) throw err;
      sent = await deliveredAs(
        opts.file,
        opts.name,
        held,
        err instanceof HeldError ? err.holder.harvester : opts.where,
      );
    }
    let moved = false;
    let deleteError: PlotferryError | undefined;
    if (opts.move) {
      try {
        await removeSource(opts.file, `${sent.harvester}:${sent.remotePath}`);
        moved = true;
      } catch (err) {
        deleteError = asPlotferryError(err);
      }
    }
    return { ...sent, ok: true, moved, ...(deleteError ? { deleteError } : {}) };
  } catch (err) {
    return { ok: false, error: asPlotferryError(err) };
  } finally {
    await lock?.release();
  }
}

export interface SendFilesOptions {
  files: readonly string[];
  move: boolean;
  log: Logger;
  /** SIGINT/SIGTERM: the file in flight stops; the rest are reported as not sent. */
  signal: AbortSignal;
  /** Names the receiver in messages (HOST:PORT, or "a harvester"). */
  where: string;
  /** One file's transfer (direct with retries, or by bidding); `probe` goes into HELLO or `has`. */
  transfer(file: string, probe: string | undefined, onProgress: (bytes: number) => void, log: Logger): Promise<Sent>;
  /** A file starts; returns its progress callback. */
  onStart?: (file: string, name: string, size: number) => (bytes: number) => void;
  /** Every file's outcome, in order, each exactly once (the aborted ones too). */
  onDone: (file: string, name: string, d: Delivery) => void;
}

/** Sends every file in turn; counts those not delivered, and those delivered but not deleted. */
export async function sendFiles(o: SendFilesOptions): Promise<{ failed: number; notDeleted: number }> {
  let failed = 0;
  let notDeleted = 0;
  for (const file of o.files) {
    const name = path.basename(file);
    let d: Delivery;
    let problem: PlotferryError | undefined;
    if (o.signal.aborted) {
      d = {
        ok: false,
        error: new PlotferryError('PF_ABORTED', `${file} was not sent: stopped (SIGINT/SIGTERM) before its turn`),
      };
    } else if ((problem = await unsendable(file))) {
      // Not a file this user can read: said now, not after a harvester was won for it.
      d = { ok: false, error: problem };
    } else {
      const size = await fsp.stat(file).then(
        (st) => st.size,
        () => 0,
      );
      const progress = o.onStart?.(file, name, size) ?? (() => undefined);
      const log = o.log.child({ file });
      d = await deliver({
        file,
        name,
        move: o.move,
        log,
        where: o.where,
        transfer: (probe) => o.transfer(file, probe, progress, log),
      });
    }
    if (!d.ok) failed++;
    else if (d.deleteError) notDeleted++;
    o.onDone(file, name, d);
  }
  return { failed, notDeleted };
}

/** Why `file` cannot be sent at all (missing, not a regular file, not readable by this user). */
async function unsendable(file: string): Promise<PlotferryError | undefined> {
  let fh;
  try {
    fh = await fsp.open(file, 'r');
    if (!(await fh.stat()).isFile()) return new PlotferryError('PF_SOURCE', `${file} is not a regular file`);
    return undefined;
  } catch (err) {
    return fromSystemError(err, `cannot read ${file}`, 'PF_SOURCE');
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

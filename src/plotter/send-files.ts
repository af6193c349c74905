/**
 * `plotferry send`'s work, one file after another: for each, lock it, transfer it (direct or by bidding, the caller's
 * choice), and with `--move` delete the source, saying exactly what happened:
 * - a receiver that holds the name already with a verified identical copy, provably another
 *   file (plotter/held-verdict.ts), counts as delivered: that is a RESULT lost on the way back, and
 *   every later run would otherwise fail the same way;
 * - a source that could not be deleted after a verified delivery is a delivery with a
 *   `deleteError`, not a failed one.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { asPlotferryError, PlotferryError } from '../core/errors.js';
import type { SendResult } from '../transfer/sender.js';
import { sendableSource } from '../storage/plot-file.js';
import { removeSource, SourceId } from '../storage/source.js';
import { ExistsError } from '../wire/wire-messages.js';
import { deliveredAs, HeldError } from './held-verdict.js';
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
      /** --move found the source gone already (removed by hand): delivered all the same. */
      sourceGone?: true;
      /** --move was asked and the delete failed (the plot is stored all the same). */
      deleteError?: PlotferryError;
    })
  | { ok: false; error: PlotferryError };

export interface DeliverOptions {
  file: string;
  name: string;
  move: boolean;
  log: Logger;
  /**
   * Sends the file; `probe` goes into HELLO (wire/same-file-probe.ts), and the transfer holds the file to
   * `source`, as it was checked here. `where` names the receiver.
   */
  transfer(probe: string | undefined, source: SourceId): Promise<Sent>;
  where: string;
  /** Send files with no plot header of a known layout too (--any-file). */
  anyFile?: boolean;
}

export async function deliver(opts: DeliverOptions): Promise<Delivery> {
  let lock;
  try {
    const l = await tryLock(opts.file, 'send');
    if (!l.ok)
      return {
        ok: false,
        error: new PlotferryError('PF_LOCKED', `${l.holder} is handling ${opts.file}; it was not sent twice`),
      };
    lock = l.lock;
  } catch (err) {
    // A source directory we cannot write to (read-only, not ours): no lock, so no probe either,
    // and then no copy the receiver holds can be proven to be another file.
    opts.log.debug({ err }, 'could not lock the source; sending without a probe');
  }
  try {
    // A plot that is not whole (still being written, cut short) or not a plot is not sent.
    const checked = await sendableSource(opts.file, opts.anyFile ?? false);
    if (checked.note) opts.log.info(checked.note);
    let sent: Sent;
    try {
      sent = await opts.transfer(lock?.token, checked.id);
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
    let gone = false;
    let deleteError: PlotferryError | undefined;
    if (opts.move) {
      try {
        gone = (await removeSource(opts.file, sent.source, `${sent.harvester}:${sent.remotePath}`)) === 'gone';
        moved = true;
        if (gone)
          opts.log.warn(
            { remote: sent.remotePath },
            'delivered and verified, but the source was gone already when it was to be deleted (removed by hand?)',
          );
      } catch (err) {
        deleteError = asPlotferryError(err);
      }
    }
    return {
      ...sent,
      ok: true,
      moved,
      ...(gone ? { sourceGone: true as const } : {}),
      ...(deleteError ? { deleteError } : {}),
    };
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
  /**
   * One file's transfer (direct with retries, or by bidding); `probe` goes into HELLO or `has`,
   * and `source` is the file as it was checked (the transfer's `expectSource`).
   */
  transfer(
    file: string,
    probe: string | undefined,
    onProgress: (bytes: number) => void,
    log: Logger,
    source: SourceId,
  ): Promise<Sent>;
  /** --any-file: send files with no plot header of a known layout too. */
  anyFile?: boolean;
  /** A file starts; returns its progress callback. */
  onStart?: (file: string, name: string, size: number) => (bytes: number) => void;
  /** Every file's outcome, in order, each exactly once (the aborted ones too). */
  onDone: (file: string, name: string, d: Delivery, size: number | undefined) => void;
}

/** Sends every file in turn; counts those not delivered, and those delivered but not deleted. */
export async function sendFiles(o: SendFilesOptions): Promise<{ failed: number; notDeleted: number }> {
  let failed = 0;
  let notDeleted = 0;
  for (const file of o.files) {
    const name = path.basename(file);
    let d: Delivery;
    // Its size as found, for the result line; undefined when it cannot be read (it does not exist).
    const size = await fsp.stat(file).then(
      (st) => st.size,
      () => undefined,
    );
    if (o.signal.aborted) {
      d = {
        ok: false,
        error: new PlotferryError('PF_ABORTED', `${file} was not sent: stopped (SIGINT/SIGTERM) before its turn`),
      };
    } else {
      const progress = o.onStart?.(file, name, size ?? 0) ?? (() => undefined);
      const log = o.log.child({ file });
      d = await deliver({
        file,
        name,
        move: o.move,
        log,
        where: o.where,
        ...(o.anyFile ? { anyFile: true } : {}),
        transfer: (probe, source) => o.transfer(file, probe, progress, log, source),
      });
    }
    if (!d.ok) failed++;
    else if (d.deleteError) notDeleted++;
    o.onDone(file, name, d, size);
  }
  return { failed, notDeleted };
}

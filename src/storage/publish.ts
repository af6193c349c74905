/**
 * The steps that make a received, synced file visible under its final name without ever
 * overwriting one.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { fromSystemError, PlotferryError } from '../core/errors.js';

/** Errors from link(2) that mean "this file system has no hard links", not "it failed". */
const NO_LINK = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK', 'EXDEV']);

/**
 * Moves the synced temporary file to its final name, never overwriting: link(2) fails with
 * EEXIST where rename(2) would silently replace. On file systems without hard links (exFAT,
 * some FUSE mounts) it falls back to check-then-rename, which only a concurrent writer of the
 * same name outside plotferry could race. Then fsyncs the directory so the name survives a
 * power cut, and resolves: from here on the plot is stored, durably, under its final name.
 *
 * Per-file cost matters with ~1 GiB plots: the directory is opened while the caller
 * syncs the file (`dir`, from openDirForSync), and what does not make the plot safer runs after
 * this resolves, while the sender hears RESULT: the hash record (`record`, written only once the
 * name is ours) and the removal of the temporary name. `settled` resolves when they are done,
 * with whether the record was written.
 */
export async function publish(
  tempPath: string,
  finalPath: string,
  log?: Logger,
  record?: (finalPath: string) => Promise<boolean>,
  dir: Promise<DirHandle> = openDirForSync(path.dirname(finalPath)),
): Promise<{ settled: Promise<boolean> }> {
  const closeDir = () =>
    dir.then(
      (d) => d.close(),
      () => undefined,
    );
  let linked = false;
  try {
    try {
      await fsp.link(tempPath, finalPath);
      linked = true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') {
        throw new PlotferryError(
          'PF_EXISTS',
          `${finalPath} appeared while the file was received; it was not overwritten`,
        );
      }
      if (!code || !NO_LINK.has(code)) throw fromSystemError(err, `publishing ${finalPath}`);
      try {
        await fsp.lstat(finalPath);
        throw new PlotferryError(
          'PF_EXISTS',
          `${finalPath} appeared while the file was received; it was not overwritten`,
        );
      } catch (e) {
        if (e instanceof PlotferryError) throw e;
      }
      try {
        await fsp.rename(tempPath, finalPath);
      } catch (e) {
        throw fromSystemError(e, `renaming to ${finalPath}`);
      }
    }
    await dir.then((d) => d.sync());
  } catch (err) {
    await closeDir();
    throw err;
  }
  const settled = Promise.all([
    record ? record(finalPath) : Promise.resolve(false),
    // The plot is under its final name now. A temporary name that cannot be removed (a disk
    // remounted read-only this instant) is left for the next start's housekeeping: reporting
    // the plot as failed would make the plotter send it again elsewhere, and it would land twice.
    linked
      ? fsp
          .unlink(tempPath)
          .catch((err: unknown) =>
            log?.warn(
              { err, path: tempPath },
              'stored, but its temporary name could not be removed; the next start removes it',
            ),
          )
      : undefined,
  ]).then(
    async ([recorded]) => {
      await closeDir();
      return recorded;
    },
    async () => {
      await closeDir();
      return false;
    },
  );
  return { settled };
}

/** An open directory, to fsync it once a name in it changed. */
export interface DirHandle {
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** Opens `dir` for a later sync; the open's failure surfaces at sync(). */
export function openDirForSync(dir: string): Promise<DirHandle> {
  const h = fsp.open(dir, 'r').then(
    (fh) => ({
      async sync() {
        try {
          await fh.sync();
        } catch (err) {
          // Some file systems refuse fsync on a directory (EINVAL); the data itself is synced.
          if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw fromSystemError(err, `syncing directory ${dir}`);
        }
      },
      close: () => fh.close(),
    }),
    (err: unknown) => {
      throw fromSystemError(err, `opening directory ${dir} to sync it`);
    },
  );
  h.catch(() => undefined); // awaited by sync(); never an unhandled rejection meanwhile
  return h;
}

export async function syncDir(dir: string): Promise<void> {
  const d = await openDirForSync(dir);
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

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
 * power cut.
 */
export async function publish(tempPath: string, finalPath: string, log?: Logger): Promise<void> {
  let linked = false;
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
  if (linked) {
    // The plot is under its final name now. A temporary name that cannot be removed (a disk
    // remounted read-only this instant) is left for the next start's housekeeping: reporting
    // the plot as failed would make the plotter send it again elsewhere, and it would land twice.
    await fsp
      .unlink(tempPath)
      .catch((err: unknown) =>
        log?.warn(
          { err, path: tempPath },
          'stored, but its temporary name could not be removed; the next start removes it',
        ),
      );
  }
  await syncDir(path.dirname(finalPath));
}

export async function syncDir(dir: string): Promise<void> {
  const h = await fsp.open(dir, 'r');
  try {
    await h.sync();
  } catch (err) {
    // Some file systems refuse fsync on a directory (EINVAL); the data itself is synced.
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw fromSystemError(err, `syncing directory ${dir}`);
  } finally {
    await h.close();
  }
}

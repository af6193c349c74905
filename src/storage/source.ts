/**
 * A plot's source is deleted only while it is still the very file whose bytes were verified.
 *
 * Its identity (device, inode, size, mtime and ctime in nanoseconds) is taken when it is opened,
 * before the first byte is read; checked again after the last byte is read, before the trailer
 * (a change there means the hash covers bytes that are not the file's: nothing is published);
 * and once more just before the unlink (a change there means the harvester holds bytes the source
 * no longer has). A size check alone missed a plot rewritten in place at the same size; ctime
 * also catches a change that put mtime back (`touch -d`), and device and inode a file replaced
 * under its name.
 *
 * A source given as a symbolic link is refused: deleting the link would leave the plot on the
 * NVMe, deleting its target would remove a file the farmer did not name (it may be a harvester's
 * plot seen through a link), and the link's name may not be the plot's. Give the target's path.
 */
import fs, { BigIntStats } from 'node:fs';
import { fromSystemError, PlotferryError } from '../core/errors.js';

export interface SourceId {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** The fields of a bigint stat that make a source's identity. */
type SourceIdStats = Pick<BigIntStats, 'dev' | 'ino' | 'size' | 'mtimeNs' | 'ctimeNs'>;

export function sourceIdOf(st: SourceIdStats): SourceId {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
}

/** What tells `now` from `was`, in words ("its contents or times changed"), or undefined when none. */
export function sourceChange(was: SourceId, now: SourceId): string | undefined {
  if (was.dev !== now.dev || was.ino !== now.ino) return 'another file took its name';
  if (was.size !== now.size) return `its size changed (${was.size} -> ${now.size} bytes)`;
  if (was.mtimeNs !== now.mtimeNs) return 'it was written to (its mtime changed)';
  if (was.ctimeNs !== now.ctimeNs) return 'it was changed (its ctime changed: written, touched, linked or chmod-ed)';
  return undefined;
}

/** A regular file opened for reading, never through a symbolic link, with its identity. */
export function openSource(file: string): Promise<{ fd: number; id: SourceId }> {
  return new Promise((res, rej) =>
    fs.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW, (err, fd) => {
      if (err) {
        if (err.code === 'ELOOP') return rej(symlinkError(file));
        return rej(fromSystemError(err, `opening ${file}`, 'PF_SOURCE'));
      }
      fs.fstat(fd, { bigint: true }, (e, st) => {
        if (e || !st.isFile()) {
          fs.close(fd, () => undefined);
          return rej(
            e
              ? fromSystemError(e, `reading ${file}`, 'PF_SOURCE')
              : new PlotferryError('PF_SOURCE', `${file} is not a regular file`),
          );
        }
        res({ fd, id: sourceIdOf(st) });
      });
    }),
  );
}

export function symlinkError(file: string): PlotferryError {
  return new PlotferryError(
    'PF_SOURCE',
    `${file} is a symbolic link: plotferry moves only regular files, never through a link (give the path of the plot itself)`,
  );
}

/**
 * What tells the open file now (`st`, its fstat) from `was`, for the bytes read through it. A
 * file whose last name was removed meanwhile (nlink 0: deleted by hand, or moved by another
 * tool) has a new ctime for that alone; its bytes are the ones read, and refusing them then would
 * lose the plot (its source is gone; a receiver's partial copy expires). So a ctime change is
 * not a change there; a write still changes mtime, and a size change is still seen.
 */
export function openFileChange(was: SourceId, st: Pick<BigIntStats, 'nlink'> & SourceIdStats): string | undefined {
  const now = sourceIdOf(st);
  return sourceChange(was, st.nlink === 0n ? { ...now, ctimeNs: was.ctimeNs } : now);
}
/** Throws PF_SOURCE_CHANGED when the open `fd` no longer holds the bytes of the file `was` describes. */
export async function assertUnchanged(fd: number, file: string, was: SourceId, when: string): Promise<void> {
  const st = await new Promise<BigIntStats>((res, rej) =>
    fs.fstat(fd, { bigint: true }, (e, s) => (e ? rej(fromSystemError(e, `reading ${file}`, 'PF_SOURCE')) : res(s))),
  );
  const change = openFileChange(was, st);
  if (change) throw new PlotferryError('PF_SOURCE_CHANGED', `${file} changed ${when}: ${change}`);
}

/**
 * `--move`: deletes the source, but only while the file under its name is still `was`. A source
 * already gone (removed by hand) was delivered all the same: 'gone', for the caller to warn.
 * Throws PF_SOURCE_CHANGED (the source is kept) or PF_DELETE_FAILED.
 */
export async function removeSource(file: string, was: SourceId, storedAt: string): Promise<'removed' | 'gone'> {
  let st: BigIntStats;
  try {
    st = await fs.promises.lstat(file, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw deleteFailed(file, storedAt, err);
  }
  const change = sourceChange(was, sourceIdOf(st));
  if (change)
    throw new PlotferryError(
      'PF_SOURCE_CHANGED',
      `verified and stored at ${storedAt}, but ${file} is no longer the file that was sent (${change}): it was kept; compare the two before you remove either`,
    );
  try {
    await fs.promises.unlink(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw deleteFailed(file, storedAt, err);
  }
  return 'removed';
}

function deleteFailed(file: string, storedAt: string, err: unknown): PlotferryError {
  return new PlotferryError(
    'PF_DELETE_FAILED',
    `verified and stored at ${storedAt}, but ${file} could not be deleted: ${(err as Error).message}`,
    { cause: err },
  );
}

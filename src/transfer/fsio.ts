/** Positional file reads on raw fds (the transfer code keeps fds, not FileHandles). */
import fs from 'node:fs';

/**
 * Reads `length` bytes at `position` into the start of `buf`, finishing short reads, unless
 * the file ends first; resolves with the count read.
 */
export function readAt(fd: number, buf: Buffer, length: number, position: number): Promise<number> {
  return new Promise((res, rej) => {
    let got = 0;
    const step = () =>
      fs.read(fd, buf, got, length - got, position + got, (err, n) => {
        if (err) return rej(err);
        got += n;
        if (n === 0 || got === length) return res(got);
        step();
      });
    step();
  });
}

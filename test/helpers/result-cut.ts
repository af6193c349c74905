import { FrameType } from '../../src/wire/frame.js';

/**
 * For a proxy's receiver-to-sender direction: forwards the receiver's frames (8-byte header:
 * "PF", version, type, u32 length; then the payload) whole, one by one, and calls `onResult`
 * instead of forwarding a RESULT: a RESULT lost on the way back, after the file was stored.
 */
export function resultCutter(
  write: (frame: Buffer) => void,
  onResult: () => void,
  cutNow: () => boolean = () => true,
): (chunk: Buffer) => void {
  let back = Buffer.alloc(0);
  let cut = false;
  return (chunk) => {
    if (cut) return;
    back = Buffer.concat([back, chunk]);
    while (back.length >= 8 && back.length >= 8 + back.readUInt32BE(4)) {
      const n = 8 + back.readUInt32BE(4);
      if (back[3] === FrameType.RESULT && cutNow()) {
        cut = true;
        return onResult();
      }
      write(back.subarray(0, n));
      back = back.subarray(n);
    }
  };
}

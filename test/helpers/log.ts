import { Writable } from 'node:stream';
import pino from 'pino';

/** A logger whose lines a test reads: parsed (`lines`) and as text (`text()`). */
export function captureLog(level: pino.LevelWithSilent = 'info') {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const log = pino(
    { level },
    new Writable({
      write(chunk, _e, cb) {
        raw.push(String(chunk));
        for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    }),
  );
  return { log, lines, text: () => raw.join('') };
}

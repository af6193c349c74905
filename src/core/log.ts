/**
 * One pino logger per process, on stderr so stdout stays free for `--json` results.
 * JSON lines when stderr is not a terminal (cron, systemd, files); readable lines on a terminal.
 * Per-chunk work never logs: transfers log once at start and once at the end.
 */
import pino, { Logger } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Where readable (terminal) log lines go. While progress bars are drawn they must be printed
 * above the bars, not into them: progress.ts points this at the bars' log() meanwhile.
 */
let terminalSink: (line: string) => void = (line) => void process.stderr.write(line);
export function setTerminalLogSink(sink?: (line: string) => void): void {
  terminalSink = sink ?? ((line) => void process.stderr.write(line));
}

export async function createLogger(level: LogLevel = 'info', pretty = process.stderr.isTTY === true): Promise<Logger> {
  const base = { level, base: { pid: process.pid } };
  if (!pretty) return pino(base, pino.destination({ dest: 2, sync: true }));
  const { default: pinoPretty } = await import('pino-pretty');
  const { Writable } = await import('node:stream');
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      terminalSink(chunk.toString());
      cb();
    },
  });
  return pino(
    base,
    pinoPretty({ destination: out, sync: true, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss' }),
  );
}

/** For library use and tests: logs nothing. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

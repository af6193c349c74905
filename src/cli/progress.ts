/**
 * Progress bars (bytes, MB/s, ETA) with cli-progress when stderr is a terminal; nothing
 * otherwise (cron and systemd get one log line per file instead). Bars are redrawn on a timer by
 * cli-progress, so the transfer's progress callback only stores a number.
 */
import type { MultiBar, SingleBar } from 'cli-progress';

export interface ProgressBar {
  update(bytes: number): void;
  stop(): void;
}

export interface Progress {
  add(name: string, size: number): ProgressBar;
  stop(): void;
}

const NONE: ProgressBar = { update() {}, stop() {} };

export async function createProgress(enabled = process.stderr.isTTY === true): Promise<Progress> {
  if (!enabled) return { add: () => NONE, stop() {} };
  const { default: cliProgress } = await import('cli-progress');
  const multi: MultiBar = new cliProgress.MultiBar(
    {
      format: ' {name} |{bar}| {percentage}% {done}/{size} {speed} MB/s ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      fps: 5,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  // Log lines go above the bars while they are drawn.
  const { setTerminalLogSink } = await import('../core/log.js');
  // cli-progress prints log lines over old bar lines without clearing them: erase each first.
  setTerminalLogSink((chunk) =>
    multi.log(
      chunk
        .replace(/\n$/, '')
        .split('\n')
        .map((l) => `\r\x1b[2K${l}\n`)
        .join(''),
    ),
  );
  return {
    add(name, size) {
      const started = Date.now();
      const bar: SingleBar = multi.create(Math.max(size, 1), 0, payload(name, 0, size, started));
      return {
        update(bytes) {
          bar.update(bytes, payload(name, bytes, size, started));
        },
        stop() {
          bar.stop();
        },
      };
    },
    stop() {
      // A last redraw prints log lines still buffered by multi.log().
      multi.update();
      multi.stop();
      setTerminalLogSink();
    },
  };
}

function payload(name: string, bytes: number, size: number, started: number) {
  const secs = (Date.now() - started) / 1000;
  return {
    name: name.length > 40 ? `${name.slice(0, 18)}...${name.slice(-19)}` : name.padEnd(40),
    done: gib(bytes),
    size: gib(size),
    speed: secs > 0 ? (bytes / 1e6 / secs).toFixed(0).padStart(5) : '    -',
  };
}

const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)}GiB`;

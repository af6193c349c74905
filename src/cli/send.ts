import type { Argv, CommandModule } from 'yargs';
import { globalOptions, GlobalArgs, runCommand } from './common.js';

interface SendArgs extends GlobalArgs {
  files: string[];
  to: string;
  token?: string;
  move: boolean;
  json: boolean;
  retries: number;
  busyWait: number;
  progress?: boolean;
}

export const sendCommand: CommandModule<object, SendArgs> = {
  command: 'send <files..>',
  describe: 'send plot files to a `plotferry listen` receiver (direct mode)',
  builder: (y: Argv) =>
    globalOptions(y)
      .positional('files', { type: 'string', array: true, describe: 'plot files to send, one after another' })
      .option('to', {
        type: 'string',
        demandOption: 'say where to send: --to HOST:PORT (the harvester running `plotferry listen`)',
        describe: 'the receiver, HOST:PORT',
      })
      .option('token', { type: 'string', describe: "the receiver's shared secret (or PLOTFERRY_TOKEN)" })
      .option('move', {
        type: 'boolean',
        default: false,
        describe: 'delete each source once the receiver has verified, synced and renamed it',
      })
      .option('json', { type: 'boolean', default: false, describe: 'print one JSON result per file on stdout' })
      .option('retries', {
        type: 'number',
        default: 3,
        describe: 'times to retry a file after a broken connection or corruption in transit',
      })
      .option('busy-wait', {
        type: 'number',
        default: 1800,
        describe: 'seconds to keep waiting while every receiving disk is busy with other files',
      })
      .option('progress', { type: 'boolean', describe: 'show progress bars (default: when stderr is a terminal)' })
      .example('$0 send --to 192.168.1.20:8740 --move /mnt/nvme/*.plot', 'move finished plots to a harvester')
      .epilog(
        'Exit status 0 only when every file was verified by the receiver (xxhash of what it wrote ' +
          'equals the hash of what was read here). A file that fails is never deleted.',
      ) as unknown as Argv<SendArgs>,
  handler: (args) =>
    runCommand(args, async (log) => {
      const { promises: fsp } = await import('node:fs');
      const path = await import('node:path');
      const { parseHostPort, requireToken } = await import('../config.js');
      const { sendWithRetry } = await import('../transfer/retry.js');
      const { PlotferryError } = await import('../errors.js');
      const { createProgress } = await import('./progress.js');
      const to = parseHostPort(args.to, 'to');
      const token = requireToken(args.token);
      const abort = new AbortController();
      const onSignal = () => abort.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const progress = await createProgress(args.progress ?? (process.stderr.isTTY && !args.json));
      let failed = 0;
      try {
        for (const file of args.files) {
          if (abort.signal.aborted) {
            failed++;
            continue;
          }
          const name = path.basename(file);
          const size = await fsp.stat(file).then(
            (s) => s.size,
            () => 0,
          );
          const bar = progress.add(name, size);
          const flog = log.child({ file });
          try {
            const r = await sendWithRetry(
              { ...to, token, file, signal: abort.signal, onProgress: (b) => bar.update(b) },
              {
                retries: args.retries,
                busyWaitMs: args.busyWait * 1000,
                onRetry: (e, attempt, delay) =>
                  flog.warn({ code: e.code, attempt, delayMs: delay }, `retrying: ${e.message}`),
              },
            );
            bar.stop();
            let moved = false;
            if (args.move) {
              try {
                await fsp.unlink(file);
                moved = true;
              } catch (err) {
                throw new PlotferryError(
                  'PF_SOURCE',
                  `verified and stored at ${to.host}:${r.remotePath}, but ${file} could not be deleted: ${(err as Error).message}`,
                );
              }
            }
            const mbps = r.bytes / 1e6 / r.seconds;
            flog.info(
              {
                remote: r.remotePath,
                bytes: r.bytes,
                seconds: round(r.seconds),
                mbps: round(mbps),
                hash: r.hash,
                moved,
              },
              'sent and verified',
            );
            if (args.json)
              out({
                ok: true,
                file,
                name: r.name,
                bytes: r.bytes,
                seconds: r.seconds,
                mbps,
                hash: r.hash,
                remotePath: r.remotePath,
                moved,
              });
          } catch (err) {
            bar.stop();
            failed++;
            const e =
              err instanceof PlotferryError ? err : new PlotferryError('PF_INTERNAL', String(err), { cause: err });
            flog.error({ code: e.code }, `${e.message} (${e.hint})`);
            if (args.json) out({ ok: false, file, name, error: { code: e.code, message: e.message, hint: e.hint } });
          }
        }
      } finally {
        progress.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      if (failed > 0)
        log.error(
          { failed, total: args.files.length },
          `${failed} of ${args.files.length} file(s) not delivered; their sources are kept`,
        );
      return failed > 0 ? 1 : 0;
    }),
};

function out(o: object): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}
const round = (n: number) => Math.round(n * 100) / 100;

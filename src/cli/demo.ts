import type { Argv } from 'yargs';
import { defineCommand } from './command.js';
import { type GlobalArgs, runCommand } from './run.js';

interface DemoArgs extends GlobalArgs {
  files: number;
  size: number;
  keep: boolean;
}

export const demoCommand = defineCommand<DemoArgs>({
  name: 'demo',
  command: 'demo',
  describe:
    'a whole farm on this machine: NATS, two harvesters, a sweep of sample plots, then a replot (PoS1 plots giving way to PoS2 plots, with status before and after); then clean up',
  builder: (y: Argv) =>
    y.epilog(
      'Uses the NATS server at PLOTFERRY_NATS or 127.0.0.1:4222 when one answers, else starts ' +
        'nats-server on a free port. Files live in /dev/shm when it has room (else the temp directory). ' +
        'Ctrl-C stops it and removes everything it made; what a killed demo left is removed by the next one.',
    ),
  handler: (args) =>
    runCommand({ ...args, logLevel: args.debug ? args.logLevel : 'warn' }, async (log) => {
      const { runDemo } = await import('../demo/demo-farm.js');
      const { createProgress } = await import('./progress.js');
      // Ctrl-C stops the sweep; runDemo then removes its files and its nats-server all the same.
      const abort = new AbortController();
      const onSignal = () => abort.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const progress = await createProgress();
        return await runDemo({
          files: args.files,
          size: args.size,
          keep: args.keep,
          log,
          progress,
          signal: abort.signal,
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    }),
});

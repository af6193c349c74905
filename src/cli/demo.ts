import type { Argv, CommandModule } from 'yargs';
import { globalOptions, GlobalArgs, runCommand } from './common.js';

interface DemoArgs extends GlobalArgs {
  files: number;
  size: string;
  keep: boolean;
}

export const demoCommand: CommandModule<object, DemoArgs> = {
  command: 'demo',
  describe: 'move a few generated plot files through a local receiver onto two "disks", then clean up',
  builder: (y: Argv) =>
    globalOptions(y)
      .option('files', { type: 'number', default: 4, describe: 'how many sample plots to make' })
      .option('size', { type: 'string', default: '256M', describe: 'size of each sample plot' })
      .option('keep', { type: 'boolean', default: false, describe: 'keep the demo directory afterwards' })
      .epilog(
        'Runs entirely on this machine, in /dev/shm when it has room (else the temp directory): a ' +
          'receiver over two directories, and a sender that moves each plot with verification.',
      ) as unknown as Argv<DemoArgs>,
  handler: (args) =>
    runCommand({ ...args, logLevel: args.debug ? args.logLevel : 'warn' }, async (log) => {
      const { runDemo } = await import('../demo.js');
      await runDemo({ files: args.files, size: args.size, keep: args.keep, log });
    }),
};

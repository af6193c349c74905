/**
 * A reader that closes our stdout (`plotferry status --json | head -1`) ends the process
 * quietly, as SIGPIPE ends a C program: no stack, no "unexpected error". Node ignores SIGPIPE
 * and reports the closed pipe as an EPIPE 'error' event, which, unhandled, printed a stack.
 *
 * The exit status is the command's own when it had finished (it was only writing its last
 * lines), else 141: what a shell reports for a process ended by SIGPIPE, so `set -o pipefail`
 * scripts read it as they do for any Unix tool. Nothing is lost by stopping mid-command: a
 * source is removed only after its copy was verified, and a receiver keeps a broken transfer's
 * good bytes for a resume.
 */

/** What a shell reports for a process ended by SIGPIPE (128 + 13). */
export const CLOSED_OUTPUT_EXIT = 141;

export function endQuietlyWhenOutputCloses(): void {
  for (const stream of [process.stdout, process.stderr])
    stream.on('error', (err: NodeJS.ErrnoException) => {
      // Anything else is a real fault: the default behaviour (throw) stays.
      if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
      process.exit(typeof process.exitCode === 'number' ? process.exitCode : CLOSED_OUTPUT_EXIT);
    });
}

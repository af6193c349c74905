import { spawn, ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/src/cli/main.js, from dist/test/helpers. */
export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function startCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { child: ChildProcess; done: Promise<CliResult>; stderr: () => string } {
  const child = spawn(process.execPath, [CLI, ...args], {
    // Test disks are temporary directories, on the root filesystem on most machines: receivers
    // take them as --allow-root-fs would (a test sets PLOTFERRY_ALLOW_ROOT_FS: '' to see the default).
    env: { ...process.env, PLOTFERRY_ALLOW_ROOT_FS: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  const done = new Promise<CliResult>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done, stderr: () => stderr };
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return startCli(args, env).done;
}

/**
 * runCli() for a command expected to exit by itself (a refused daemon): SIGKILLed after `ms` if
 * it does not, so a regression fails the assertion on its exit code instead of hanging the test.
 */
export async function runCliExpectingExit(args: string[], ms = 15_000): Promise<CliResult> {
  const c = startCli(args);
  const timer = setTimeout(() => c.child.kill('SIGKILL'), ms);
  try {
    return await c.done;
  } finally {
    clearTimeout(timer);
  }
}

/** The `--json` lines of a send. */
export function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * sendFile with the delivery's retry policy (retry-policy.ts): a failure another connection can
 * mend (wire breaks, corruption in transit, a receiver shutting down, a receiving disk that
 * failed or filled up) is tried again after a back-off, up to `retries` times; PF_BUSY is
 * waited out for up to `busyWaitMs`, using up no retry.
 */
import { abortableSleep } from '../core/sleep.js';
import { asPlotferryError, DISK_FAULTS, PlotferryError } from '../core/errors.js';
import { busyPollMs, nextStep, retryPolicy } from './retry-policy.js';
import { sendFile, SendOptions, SendResult } from './sender.js';

export interface RetryOptions {
  retries?: number;
  busyWaitMs?: number;
  /** First back-off; doubles each retry, capped (retry-policy.ts). */
  backoffMs?: number;
  /** Each retry, and the start of each busy wait (not every poll of it). */
  onRetry?: (err: PlotferryError, attempt: number, delayMs: number) => void;
}

export async function sendWithRetry(opts: SendOptions, retry: RetryOptions = {}): Promise<SendResult> {
  const policy = retryPolicy(retry);
  const started = Date.now();
  let failedTries = 0;
  let waitingBusy = false;
  for (;;) {
    try {
      return await sendFile(opts);
    } catch (err) {
      const e = asPlotferryError(err);
      const step = nextStep(policy, {
        error: e,
        failedTry: failedTries + 1,
        // A receiving disk that failed or filled up is out of the receiver's choice next time
        // (DiskSet.markFailed, statfs), so the retry goes to another disk.
        mendable: e.retryable || DISK_FAULTS.has(e.code),
        elapsedMs: Date.now() - started,
        aborted: opts.signal?.aborted ?? false,
      });
      if (step.kind === 'give-up') throw e;
      let delay: number;
      if (step.kind === 'wait-busy') {
        delay = busyPollMs(Math.random());
        if (!waitingBusy) retry.onRetry?.(e, failedTries, delay);
        waitingBusy = true;
      } else {
        delay = step.delayMs;
        failedTries++;
        waitingBusy = false;
        retry.onRetry?.(e, failedTries, delay);
      }
      await abortableSleep(delay, opts.signal);
    }
  }
}

/**
 * Retry policy around sendFile. Retryable failures (wire breaks, corruption in transit, a
 * receiver shutting down, a receiving disk that failed or filled up) are tried again with
 * exponential back-off, up to `retries` times.
 * PF_BUSY (every directory with room is taking another file) is not a failure: it is waited out,
 * polling, for up to `busyWaitMs`, without using up retries.
 */
import { abortableSleep } from '../core/sleep.js';
import { asPlotferryError, DISK_FAULTS, PlotferryError } from '../core/errors.js';
import { sendFile, SendOptions, SendResult } from './sender.js';

export interface RetryOptions {
  retries?: number;
  busyWaitMs?: number;
  /** First back-off; doubles each retry, capped at 60 s. */
  backoffMs?: number;
  onRetry?: (err: PlotferryError, attempt: number, delayMs: number) => void;
}

export async function sendWithRetry(opts: SendOptions, retry: RetryOptions = {}): Promise<SendResult> {
  const retries = retry.retries ?? 3;
  const busyWaitMs = retry.busyWaitMs ?? 30 * 60_000;
  const backoff = retry.backoffMs ?? 2_000;
  const started = Date.now();
  let attempt = 0;
  for (;;) {
    try {
      return await sendFile(opts);
    } catch (err) {
      const e = asPlotferryError(err);
      // A receiving disk that failed or filled up is out of the receiver's choice next time
      // (DiskSet.markFailed, statfs), so the retry goes to another disk.
      if (opts.signal?.aborted || !(e.retryable || DISK_FAULTS.has(e.code))) throw e;
      let delay: number;
      if (e.code === 'PF_BUSY') {
        if (Date.now() - started + 5_000 > busyWaitMs) throw e;
        delay = Math.min(5_000, backoff);
      } else {
        if (attempt >= retries) throw e;
        delay = Math.min(60_000, backoff * 2 ** attempt);
        attempt++;
      }
      retry.onRetry?.(e, attempt, delay);
      await abortableSleep(delay, opts.signal);
    }
  }
}

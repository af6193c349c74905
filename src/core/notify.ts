/**
 * `--notify URL` (repeatable; harvester, listen, sweep): a JSON POST to a webhook when something
 * needs a farmer's eyes. The body carries the text under the keys each common receiver reads:
 *   { "title", "message", "priority" }  Gotify
 *   { "text" }                           Slack-compatible (Slack, Mattermost, Rocket.Chat)
 *   { "content" }                        Discord
 * and `event`, `severity`, `host`, `at` for anything else. (ntfy reads a JSON body only at its
 * root URL with a `topic` field, which this body lacks: posted to a topic URL, the whole body
 * becomes the message text; docs/operations.md says so.)
 *
 * - Deduplicated and rate-limited: one message per condition (its key) per `intervalMs`.
 * - Retried with back-off (1 s, 5 s, 25 s), each attempt cut after `timeoutMs`.
 * - Never in the transfer path: notify() returns at once, and a dead or hanging webhook slows
 *   nothing. What could not be delivered is logged.
 * One notifier per process, set by the CLI; without one, notify() does nothing.
 */
import os from 'node:os';
import type { Logger } from 'pino';

export type Severity = 'info' | 'warning' | 'critical';

export interface NotifierOptions {
  urls: readonly string[];
  log: Logger;
  /** One message per condition per this long (default 1 h). */
  intervalMs?: number;
  timeoutMs?: number;
  /** Waits between attempts (default 1 s, 5 s, 25 s). */
  backoffMs?: readonly number[];
}

export class Notifier {
  private readonly lastSent = new Map<string, number>();
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly o: NotifierOptions) {}

  /** Sends `message` under condition `key`, unless that condition was sent within the interval. */
  notify(key: string, severity: Severity, title: string, message: string): void {
    const now = Date.now();
    const last = this.lastSent.get(key);
    if (last !== undefined && now - last < (this.o.intervalMs ?? 3_600_000)) return;
    this.lastSent.set(key, now);
    if (this.lastSent.size > 10_000) this.lastSent.delete(this.lastSent.keys().next().value!);
    const body = JSON.stringify({
      title: `plotferry: ${title}`,
      message,
      priority: severity === 'critical' ? 8 : severity === 'warning' ? 5 : 2,
      text: `plotferry: ${title}: ${message}`,
      content: `plotferry: ${title}: ${message}`,
      event: key.split(':')[0],
      severity,
      host: os.hostname(),
      at: new Date(now).toISOString(),
    });
    for (const url of this.o.urls) {
      const p = this.deliver(url, body, key).finally(() => this.pending.delete(p));
      this.pending.add(p);
    }
  }

  /** Waits for the messages under way (at shutdown, and in tests). */
  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  private async deliver(url: string, body: string, key: string): Promise<void> {
    const waits = this.o.backoffMs ?? [1_000, 5_000, 25_000];
    let why = '';
    for (let attempt = 0; attempt <= waits.length; attempt++) {
      try {
        const r = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000),
        });
        await r.body?.cancel().catch(() => undefined);
        if (r.ok) return;
        why = `HTTP ${r.status}`;
        if (r.status < 500 && r.status !== 429) break; // the request is wrong: trying again cannot help
      } catch (err) {
        why = (err as Error).name === 'TimeoutError' ? 'no answer in time' : (err as Error).message;
      }
      if (attempt < waits.length) await new Promise((r) => setTimeout(r, waits[attempt]).unref());
    }
    this.o.log.warn({ url: redact(url), event: key, why }, `notification not delivered (${why})`);
  }
}

/** A webhook URL without what may be a secret in it (its path and query). */
function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/…`;
  } catch {
    return 'an invalid URL';
  }
}

let current: Notifier | undefined;

export function setNotifier(n: Notifier | undefined): void {
  current = n;
}

/** Sends through the process's notifier, if it has one. */
export function notify(key: string, severity: Severity, title: string, message: string): void {
  current?.notify(key, severity, title, message);
}

export function currentNotifier(): Notifier | undefined {
  return current;
}

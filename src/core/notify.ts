/**
 * `--notify URL` (repeatable; harvester, listen, sweep): a JSON POST to a webhook when something
 * needs a farmer's eyes. The body carries the text under the keys each common receiver reads:
 *   { "title", "message", "priority" }  Gotify
 *   { "text" }                           Slack-compatible (Slack, Mattermost, Rocket.Chat)
 *   { "content" }                        Discord
 * and `event`, `severity`, `host`, `at` for anything else. ntfy is spoken natively to a URL
 * written `ntfy+https://ntfy.sh/TOPIC` (or `ntfy+http://`): a plain-text body with `Title`,
 * `Priority` and `Tags` headers, since ntfy reads a JSON body only at its root URL with a `topic`
 * field, and posted to a topic URL the whole JSON would become the message text.
 * Every message begins with the one name of this host (`host`: a harvester's --id, else the
 * host name), and the body's `host` is the same.
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
  /** The name every message begins with (default: os.hostname()). */
  host?: string;
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
    const m: Message = {
      event: key.split(':')[0]!,
      severity,
      title,
      message: `${this.o.host ?? os.hostname()}: ${message}`,
      host: this.o.host ?? os.hostname(),
      at: new Date(now).toISOString(),
    };
    for (const url of this.o.urls) {
      const p = this.deliver(webhookRequest(url, m), key).finally(() => this.pending.delete(p));
      this.pending.add(p);
    }
  }

  /**
   * Waits for the messages under way (at shutdown, and in tests), their retries included: the
   * waits between tries hold the process from now on. They did not (unref'd timers), so a cron
   * sweep ended during the first wait, and a failed webhook was neither retried nor logged.
   */
  async flush(): Promise<void> {
    this.holding = true;
    for (const t of this.pausing) t.ref();
    await Promise.all([...this.pending]);
  }

  /** Stopping: the waits between tries keep the process alive until they are done. */
  private holding = false;
  private readonly pausing = new Set<NodeJS.Timeout>();

  /** A wait between tries: it does not keep a running daemon alive, but a flush waits for it. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.pausing.delete(t);
        resolve();
      }, ms);
      if (!this.holding) t.unref();
      this.pausing.add(t);
    });
  }

  private async deliver(req: WebhookRequest, key: string): Promise<void> {
    const waits = this.o.backoffMs ?? [1_000, 5_000, 25_000];
    let why = '';
    for (let attempt = 0; attempt <= waits.length; attempt++) {
      try {
        const r = await fetch(req.url, {
          method: 'POST',
          headers: req.headers,
          body: req.body,
          signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000),
        });
        await r.body?.cancel().catch(() => undefined);
        if (r.ok) return;
        why = `HTTP ${r.status}`;
        if (r.status < 500 && r.status !== 429) break; // the request is wrong: trying again cannot help
      } catch (err) {
        why = (err as Error).name === 'TimeoutError' ? 'no answer in time' : (err as Error).message;
      }
      if (attempt < waits.length) await this.pause(waits[attempt]!);
    }
    this.o.log.warn({ url: redact(req.url), event: key, why }, `notification not delivered (${why})`);
  }
}

/** One message, before it is shaped for a receiver. */
export interface Message {
  /** The condition's kind (its key up to the first colon): `disk-full`, `plot-failed`, ... */
  event: string;
  severity: Severity;
  title: string;
  /** Begins with the host's name. */
  message: string;
  host: string;
  /** ISO 8601. */
  at: string;
}

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** The scheme prefix that selects ntfy's own format (`ntfy+https://ntfy.sh/TOPIC`). */
export const NTFY_PREFIX = 'ntfy+';

/** Whether `url` is one --notify takes: http(s), or ntfy+http(s). */
export function isWebhookUrl(url: string): boolean {
  try {
    const u = new URL(url.startsWith(NTFY_PREFIX) ? url.slice(NTFY_PREFIX.length) : url);
    return ['http:', 'https:'].includes(u.protocol);
  } catch {
    return false;
  }
}

/**
 * The POST for `m` to `url`, pure. ntfy (`ntfy+` URLs): the message as plain text, its title,
 * priority (ntfy's 1-5: critical 5 "urgent", warning 4 "high", info 3 "default") and tags (an
 * emoji that ntfy shows, and the event) as headers. Anything else: the JSON that Gotify, Slack
 * and Discord each read their part of. Credentials in the URL (`https://user:pass@host/...`)
 * become a Basic Authorization header: fetch refuses a URL that carries them.
 */
export function webhookRequest(url: string, m: Message): WebhookRequest {
  const ntfy = url.startsWith(NTFY_PREFIX);
  const u = new URL(ntfy ? url.slice(NTFY_PREFIX.length) : url);
  const headers: Record<string, string> = {};
  if (u.username || u.password) {
    const user = decodeURIComponent(u.username);
    const pass = decodeURIComponent(u.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    u.username = '';
    u.password = '';
  }
  const title = `plotferry: ${m.title}`;
  if (ntfy) {
    headers['content-type'] = 'text/plain; charset=utf-8';
    headers.title = headerText(title);
    headers.priority = String(NTFY_PRIORITY[m.severity]);
    headers.tags = `${NTFY_EMOJI[m.severity]},plotferry,${m.event}`;
    return { url: u.href, headers, body: m.message };
  }
  headers['content-type'] = 'application/json';
  const body = JSON.stringify({
    title,
    message: m.message,
    priority: m.severity === 'critical' ? 8 : m.severity === 'warning' ? 5 : 2,
    text: `${title}: ${m.message}`,
    content: `${title}: ${m.message}`,
    event: m.event,
    severity: m.severity,
    host: m.host,
    at: m.at,
  });
  return { url: u.href, headers, body };
}

const NTFY_PRIORITY: Record<Severity, number> = { critical: 5, warning: 4, info: 3 };
/** ntfy shows a tag that is an emoji short code as the emoji. */
const NTFY_EMOJI: Record<Severity, string> = {
  critical: 'rotating_light',
  warning: 'warning',
  info: 'information_source',
};

/** A header value: non-ASCII text (a host name, a path) as RFC 2047, which ntfy decodes. */
function headerText(s: string): string {
  return /^[\x20-\x7e]*$/.test(s) ? s : `=?UTF-8?B?${Buffer.from(s).toString('base64')}?=`;
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

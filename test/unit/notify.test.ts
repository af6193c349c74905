/** What each webhook receives: JSON for Gotify, Slack and Discord; ntfy's own format for ntfy+ URLs. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isWebhookUrl, webhookRequest, type Message } from '../../src/core/notify.js';

const m: Message = {
  event: 'disk-failed',
  severity: 'critical',
  title: 'a disk failed a write',
  message: 'h1: /mnt/a failed a write',
  host: 'h1',
  at: '2026-01-01T00:00:00.000Z',
};

describe('webhookRequest', () => {
  it('a plain URL gets the JSON body every common receiver reads', () => {
    const r = webhookRequest('https://gotify.lan/message?token=T', m);
    assert.equal(r.url, 'https://gotify.lan/message?token=T');
    assert.equal(r.headers['content-type'], 'application/json');
    const b = JSON.parse(r.body) as Record<string, unknown>;
    assert.equal(b.title, 'plotferry: a disk failed a write');
    assert.equal(b.text, 'plotferry: a disk failed a write: h1: /mnt/a failed a write');
    assert.deepEqual([b.host, b.event, b.priority], ['h1', 'disk-failed', 8]);
  });

  it('ntfy+https: plain text to the topic, with Title, Priority and Tags headers', () => {
    const r = webhookRequest('ntfy+https://ntfy.sh/my-farm', m);
    assert.equal(r.url, 'https://ntfy.sh/my-farm');
    assert.equal(r.body, 'h1: /mnt/a failed a write');
    assert.match(r.headers['content-type']!, /^text\/plain/);
    assert.equal(r.headers.title, 'plotferry: a disk failed a write');
    assert.equal(r.headers.priority, '5');
    assert.equal(r.headers.tags, 'rotating_light,plotferry,disk-failed');
    assert.equal(webhookRequest('ntfy+http://n/t', { ...m, severity: 'warning' }).headers.priority, '4');
    assert.equal(webhookRequest('ntfy+http://n/t', { ...m, severity: 'info' }).headers.priority, '3');
  });

  it('credentials in the URL become a Basic header (fetch refuses them in the URL)', () => {
    const r = webhookRequest('ntfy+https://farmer:p%40ss@ntfy.lan/t', m);
    assert.equal(r.url, 'https://ntfy.lan/t');
    assert.equal(r.headers.authorization, `Basic ${Buffer.from('farmer:p@ss').toString('base64')}`);
  });

  it('a title that is not ASCII is sent RFC 2047-encoded, which ntfy decodes', () => {
    const r = webhookRequest('ntfy+https://ntfy.sh/t', { ...m, title: 'disque plein é' });
    assert.match(r.headers.title!, /^=\?UTF-8\?B\?.+\?=$/);
  });

  it('--notify takes http(s) and ntfy+http(s) URLs only', () => {
    for (const u of ['http://a/b', 'https://a', 'ntfy+https://ntfy.sh/t', 'ntfy+http://n:8080/t'])
      assert.ok(isWebhookUrl(u), u);
    for (const u of ['ftp://x', 'ntfy://x', 'ntfy+ftp://x', 'not a url', '/a,http://b']) assert.ok(!isWebhookUrl(u), u);
  });
});

/**
 * A webhook receiver for tests: answers 200 and keeps every request it got, in order: JSON
 * bodies parsed in `bodies`, and every request (path, headers, raw body) in `requests`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface WebhookRequestSeen {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface TestWebhook {
  url: string;
  bodies: Record<string, unknown>[];
  requests: WebhookRequestSeen[];
  close(): Promise<void>;
}

export async function startWebhook(): Promise<TestWebhook> {
  const bodies: Record<string, unknown>[] = [];
  const requests: WebhookRequestSeen[] = [];
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      requests.push({ path: req.url ?? '', headers: req.headers, body: data });
      if ((req.headers['content-type'] ?? '').startsWith('application/json'))
        bodies.push(JSON.parse(data) as Record<string, unknown>);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    bodies,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * The bench's HTTP peer: streams each PUT body to a file in --dir, the way chia-garden moves
 * plots (`curl -T plot http://host:port/NAME`). Loopback or bench namespace only.
 *
 *   node dist/bench/http-receiver.js --dir DIR --host H --port P
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { dir: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' } },
});
const dir = values.dir!;

async function put(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const name = path.basename(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
  if (req.method !== 'PUT' || !name || name.startsWith('.')) {
    res.writeHead(400).end('PUT /NAME only\n');
    return;
  }
  await pipeline(req, fs.createWriteStream(path.join(dir, name)));
  res.writeHead(201).end('stored\n');
}

http
  .createServer((req, res) => {
    // Any failure (a write, a malformed %-escape in the name) answers 500; http.Server ignores a
    // handler's promise, so a rejection left to it would end this peer mid-bench.
    put(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(`${(err as Error).message}\n`);
    });
  })
  .listen(Number(values.port), values.host);

/**
 * @file The encoder–decoder example's model host: a Vite dev-server plugin that publishes
 * models/seq2seq/v1 and v2 (the transformers.js layout, as an exporter wrote them) with the repo's own
 * `ondevice publish` into a temporary release folder at start, and serves it as a static
 * host would, at /reverse-release/. It serves 1.0.0 until the page's publisher button asks for 2.0.0 (POST
 * /reverse-host/publish; /reverse-host/reset starts over).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'vite';
import { publish } from '../src/cli/publish.js';

const SEQ2SEQ = fileURLToPath(new URL('../models/seq2seq/', import.meta.url));

export function reverseHost(): Plugin {
  let dir: string | undefined;
  let ready: Promise<void> | undefined;
  let version: '1.0.0' | '2.0.0' = '1.0.0';

  const release = async () => {
    dir = mkdtempSync(join(tmpdir(), 'ondevice-reverse-example-'));
    await publish(`${SEQ2SEQ}v1`, dir, { version: '1.0.0', name: 'reverse' });
    await publish(`${SEQ2SEQ}v2`, dir, { version: '2.0.0', name: 'reverse' });
  };

  const send = (req: IncomingMessage, res: ServerResponse, body: Buffer, type: string, cache: string) => {
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
    res.setHeader('ETag', etag);
    res.setHeader('Cache-Control', cache);
    res.setHeader('Content-Type', type);
    if (req.headers['if-none-match'] === etag) return void res.writeHead(304).end();
    res.setHeader('Content-Length', body.byteLength);
    res.end(body);
  };

  const files = async (req: IncomingMessage, res: ServerResponse) => {
    await (ready ??= release());
    const name = new URL(req.url ?? '/', 'http://x').pathname.slice(1);
    // manifest.json names what the publisher has published so far; every file is immutable.
    if (name === 'manifest.json') return send(req, res, readFileSync(join(dir!, `manifest.${version}.json`)), 'application/json', 'no-cache');
    if (!/^[\w.-]+$/.test(name) || !existsSync(join(dir!, name))) return void res.writeHead(404).end();
    send(req, res, readFileSync(join(dir!, name)), 'application/octet-stream', 'public, max-age=31536000, immutable');
  };

  const control = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method === 'POST' && path === '/publish') version = '2.0.0';
    if (req.method === 'POST' && path === '/reset') version = '1.0.0';
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ version }));
  };

  return {
    name: 'ondevice-reverse-host',
    configureServer(server) {
      server.middlewares.use('/reverse-host', control);
      server.middlewares.use('/reverse-release', (req, res) => void files(req, res).catch((e: unknown) => res.writeHead(500).end(String(e))));
      server.httpServer?.once('close', () => dir && rmSync(dir, { recursive: true, force: true }));
    },
  };
}

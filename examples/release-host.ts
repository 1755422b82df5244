/**
 * @file The examples' model hosts: a Vite dev-server plugin that publishes two versions of a model
 * folder (the transformers.js layout, as an exporter wrote it) with the repo's own `ondevice publish`
 * into a temporary release folder at start, and serves it as a static host would, at
 * `/<name>-release/`. It serves 1.0.0 until the page's publisher button asks for 2.0.0 (POST
 * `/<name>-host/publish`; `/<name>-host/reset` starts over). Used by reverse.html (models/seq2seq) and
 * embed.html (models/tiny-bert).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Plugin } from 'vite';
import { publish } from '../src/cli/publish.js';

/** `name`: the release's model name and its routes; `folders`: the folders of 1.0.0 and 2.0.0. */
export function releaseHost(name: string, folders: { '1.0.0': string; '2.0.0': string }): Plugin {
  let dir: string | undefined;
  let ready: Promise<void> | undefined;
  let version: '1.0.0' | '2.0.0' = '1.0.0';

  const release = async () => {
    dir = mkdtempSync(join(tmpdir(), `ondevice-${name}-example-`));
    for (const v of ['1.0.0', '2.0.0'] as const) await publish(folders[v], dir, { version: v, name });
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
    const file = new URL(req.url ?? '/', 'http://x').pathname.slice(1);
    // manifest.json names what the publisher has published so far; every file is immutable.
    if (file === 'manifest.json') return send(req, res, readFileSync(join(dir!, `manifest.${version}.json`)), 'application/json', 'no-cache');
    if (!/^[\w.-]+$/.test(file) || !existsSync(join(dir!, file))) return void res.writeHead(404).end();
    send(req, res, readFileSync(join(dir!, file)), 'application/octet-stream', 'public, max-age=31536000, immutable');
  };

  const control = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method === 'POST' && path === '/publish') version = '2.0.0';
    if (req.method === 'POST' && path === '/reset') version = '1.0.0';
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ version }));
  };

  return {
    name: `ondevice-${name}-host`,
    configureServer(server) {
      server.middlewares.use(`/${name}-host`, control);
      server.middlewares.use(`/${name}-release`, (req, res) => void files(req, res).catch((e: unknown) => res.writeHead(500).end(String(e))));
      server.httpServer?.once('close', () => dir && rmSync(dir, { recursive: true, force: true }));
    },
  };
}

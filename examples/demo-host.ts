/**
 * @file The demo's model host and its publisher: a Vite dev-server plugin that serves the digits
 * release at /host/digits/ as a static host would (manifest.json, per-version manifests, the
 * content-hashed files, with ETags), and lets the page's "Publisher" panel change what it serves:
 * publish 1.1.0, revoke the newest version (as `ondevice revoke` does: listed in the manifest's
 * `revoked`), take the host offline (every request's connection is dropped, as an unreachable host's
 * is) and bring it back, or start over. State lives in the dev server's memory.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'vite';

const DIGITS = fileURLToPath(new URL('../models/digits/', import.meta.url));
/** Each version the demo can publish, and the folder its release is in. */
const RELEASES = { '1.0.0': 'release', '1.1.0': 'next' } as const;
type Version = keyof typeof RELEASES;

export interface HostState {
  /** Published versions, oldest first; the last is what manifest.json names. */
  published: Version[];
  revoked: Version[];
  /** Offline: connections are dropped. */
  down: boolean;
}

const initial = (): HostState => ({ published: ['1.0.0'], revoked: [], down: false });

export function demoHost(): Plugin {
  let state = initial();

  const manifest = (version: Version): string => {
    const json = JSON.parse(readFileSync(`${DIGITS}${RELEASES[version]}/manifest.json`, 'utf8')) as Record<string, unknown>;
    // A manifest lists revocations at or below its own version (RELEASES is in version order).
    const order = Object.keys(RELEASES);
    return `${JSON.stringify({ ...json, revoked: state.revoked.filter((v) => order.indexOf(v) <= order.indexOf(version)) }, null, 2)}\n`;
  };

  const send = (req: IncomingMessage, res: ServerResponse, body: Buffer | string, type: string, cache: string) => {
    const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
    res.setHeader('ETag', etag);
    res.setHeader('Cache-Control', cache);
    res.setHeader('Content-Type', type);
    if (req.headers['if-none-match'] === etag) return void res.writeHead(304).end();
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(body);
  };

  const handle = (req: IncomingMessage, res: ServerResponse, next: () => void) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method === 'POST') {
      const newest = state.published.at(-1)!;
      if (path === '/publish' && newest === '1.0.0') state.published.push('1.1.0');
      else if (path === '/revoke' && !state.revoked.includes(newest)) state.revoked.push(newest);
      else if (path === '/down') state.down = true;
      else if (path === '/up') state.down = false;
      else if (path === '/reset') state = initial();
      res.setHeader('Content-Type', 'application/json');
      return void res.end(JSON.stringify(state));
    }
    if (path === '/state') {
      res.setHeader('Content-Type', 'application/json');
      return void res.end(JSON.stringify(state));
    }
    if (!path.startsWith('/digits/')) return next();
    // An unreachable host: no answer at all.
    if (state.down) return void req.socket.destroy();
    const name = path.slice('/digits/'.length);
    if (name === 'manifest.json') return send(req, res, manifest(state.published.at(-1)!), 'application/json', 'no-cache');
    const perVersion = /^manifest\.(\d+\.\d+\.\d+)\.json$/.exec(name)?.[1] as Version | undefined;
    if (perVersion && state.published.includes(perVersion)) return send(req, res, manifest(perVersion), 'application/json', 'no-cache');
    for (const version of state.published) {
      const file = `${DIGITS}${RELEASES[version]}/${name}`;
      if (/^[\w.-]+\.onnx$/.test(name) && existsSync(file)) return send(req, res, readFileSync(file), 'application/octet-stream', 'public, max-age=31536000, immutable');
    }
    res.writeHead(404).end();
  };

  return {
    name: 'ondevice-demo-host',
    configureServer(server) {
      server.middlewares.use('/host', handle);
    },
    configurePreviewServer(server) {
      server.middlewares.use('/host', handle);
    },
  };
}

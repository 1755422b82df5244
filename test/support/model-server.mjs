/**
 * @file The model host of the tests and the benchmark: a real static server on 127.0.0.1 (sirv: ETag,
 * 304, Range) serving `models/`, with CORS, a request log, and routes that answer the way broken
 * hosts do (an SPA's index.html for every path).
 */
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import sirv from 'sirv';

const MODELS = fileURLToPath(new URL('../../models/', import.meta.url));
const INDEX_HTML = '<!DOCTYPE html><html><head><title>App</title></head><body><div id="app"></div></body></html>';

/**
 * @param {{ root?: string }} [options]
 * @returns {Promise<{ url: string, requests: Array<{ method: string, path: string, range: string | undefined, status: number }>, close(): Promise<void> }>}
 */
export async function startModelServer(options = {}) {
  const files = sirv(options.root ?? MODELS, { dev: false, etag: true, dotfiles: false, maxAge: 0 });
  /** @type {Array<{ method: string, path: string, range: string | undefined, status: number }>} */
  const requests = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Expose-Headers', 'ETag, Content-Length, Content-Range, Accept-Ranges');
    res.on('finish', () => requests.push({ method: req.method ?? 'GET', path, range: req.headers.range, status: res.statusCode }));
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Headers', '*');
      res.writeHead(204).end();
    } else if (path === '/__requests') {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify(requests));
    } else if (path.startsWith('/spa/')) {
      // A single-page-app host: every path answers 200 with index.html.
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.end(INDEX_HTML);
    } else {
      files(req, res, () => {
        res.statusCode = 404;
        res.setHeader('Content-Type', 'text/plain');
        res.end('not found');
      });
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('model server has no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve(undefined))),
  };
}

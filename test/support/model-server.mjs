/**
 * @file The model host of the tests and the benchmark: a real static server on 127.0.0.1 (sirv: ETag,
 * 304, Range) serving `models/`, with CORS, a request log, and routes that answer the way broken
 * hosts do (an SPA's index.html for every path).
 */
import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import sirv from 'sirv';

const MODELS = fileURLToPath(new URL('../../models/', import.meta.url));
const INDEX_HTML = '<!DOCTYPE html><html><head><title>App</title></head><body><div id="app"></div></body></html>';

/**
 * The digits manifest with one thing broken, for `/mutated/<kind>/manifest.json`. File paths point
 * back at the real files, so only the named defect differs.
 * @type {Record<string, (m: any) => void>}
 */
const MUTATIONS = {
  ok: () => {},
  'bad-sha256': (m) => { m.variants.fp32.files[0].sha256 = '0'.repeat(64); },
  'bad-size': (m) => { m.variants.fp32.files[0].size += 1; },
  'no-version': (m) => { delete m.version; },
  'bad-format': (m) => { m.format = 'ondevice/0'; },
  'bad-file-size': (m) => { m.variants.fp32.files[0].size = -1; },
  'other-origin': (m) => { m.variants.fp32.files[0].path = 'https://cdn.example.com/digits.onnx'; },
  'missing-file': (m) => { m.variants.fp32.files[0].path = 'nope.onnx'; },
  'html-file': (m) => { m.variants.fp32.files[0].path = '../../spa/digits.onnx'; },
  tfjs: (m) => { m.runtime = 'tfjs-layers'; },
};

/**
 * @param {{ root?: string }} [options]
 * @returns {Promise<{ url: string, requests: Array<{ method: string, path: string, range: string | undefined, status: number, bytes: number, completed: boolean }>, close(): Promise<void> }>}
 */
export async function startModelServer(options = {}) {
  const root = options.root ?? MODELS;
  /**
   * Live hosts for update tests, by id: the manifest a test published, a map of file names to the
   * file actually served under that name (wrong bytes), whether the host is down, and other JSON files it serves.
   * @type {Map<string, { manifest?: string, swap: Record<string, string>, down: boolean, json: Record<string, string> }>}
   */
  const live = new Map();
  /** Downloads held at a gate (`/gated/<gate>/…`): each one's rest, sent when the test opens the gate. */
  /** @type {Map<string, Array<() => void>>} */
  const gates = new Map();
  /** Every model file under the root by file name (names are content-hashed, so unique). @type {Map<string, string>} */
  const byName = new Map();
  const index = (/** @type {string} */ dir) => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      if (entry.isDirectory()) index(join(dir, entry.name));
      else byName.set(entry.name, `/${join(dir, entry.name)}`);
    }
  };
  index('.');
  const files = sirv(root, { dev: false, etag: true, dotfiles: false, maxAge: 0 });
  /** @type {Array<{ method: string, path: string, range: string | undefined, status: number, bytes: number, completed: boolean }>} */
  const requests = [];
  /** Responses not closed yet. @type {Set<{ res: import('node:http').ServerResponse, written: () => number, closed: Promise<void> }>} */
  const inflight = new Set();
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Expose-Headers', 'ETag, Content-Length, Content-Range, Accept-Ranges');
    let bytes = 0;
    const write = res.write.bind(res);
    res.write = /** @type {typeof res.write} */ ((/** @type {any} */ chunk, /** @type {any[]} */ ...rest) => {
      bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      return write(chunk, ...rest);
    });
    const end = res.end.bind(res);
    res.end = /** @type {typeof res.end} */ ((/** @type {any} */ chunk, /** @type {any[]} */ ...rest) => {
      if (chunk && typeof chunk !== 'function') bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      return end(chunk, ...rest);
    });
    // 'close' fires for finished and for broken-off responses alike; writableFinished tells them apart.
    const open = { res, written: () => bytes, closed: /** @type {Promise<void>} */ (new Promise((resolve) => res.on('close', () => resolve()))) };
    inflight.add(open);
    res.on('close', () => {
      inflight.delete(open);
      requests.push({ method: req.method ?? 'GET', path, range: req.headers.range, status: res.statusCode, bytes, completed: res.writableFinished });
    });
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Headers', '*');
      res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, PUT');
      res.writeHead(204).end();
    } else if (path.startsWith('/__live/') && req.method === 'PUT') {
      // PUT /__live/<id>/manifest.json (the JSON), /__live/<id>/<other>.json (another JSON file it serves,
      // e.g. a per-version manifest), /__live/<id>/swap ({ name: servedName }), /__live/<id>/down (true|false)
      const [, , id = '', what = ''] = path.split('/');
      const host = live.get(id) ?? { swap: {}, down: false, json: {} };
      live.set(id, host);
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (what === 'manifest.json') host.manifest = body;
        else if (what === 'swap') host.swap = JSON.parse(body);
        else if (what === 'down') host.down = body === 'true';
        else if (what.endsWith('.json')) host.json[what] = body;
        res.writeHead(204).end();
      });
    } else if (path.startsWith('/live/')) {
      const [, , id = '', ...rest] = path.split('/');
      const name = rest.join('/');
      const host = live.get(id);
      if (host?.down) return void req.socket.destroy();
      if (name === 'manifest.json' && host?.manifest !== undefined) {
        const etag = `"${createHash('sha256').update(host.manifest).digest('hex').slice(0, 16)}"`;
        res.setHeader('ETag', etag);
        res.setHeader('Cache-Control', 'no-cache');
        if (req.headers['if-none-match'] === etag) return void res.writeHead(304).end();
        res.setHeader('Content-Type', 'application/json');
        return void res.end(host.manifest);
      }
      if (host?.json[name] !== undefined) {
        res.setHeader('Content-Type', 'application/json');
        return void res.end(host.json[name]);
      }
      const served = byName.get(host?.swap[name] ?? name);
      if (!served) return void res.writeHead(404).end();
      req.url = served;
      files(req, res, () => {
        res.writeHead(404).end();
      });
    } else if (path === '/__requests') {
      // A client can hold a whole body (it knows the Content-Length) before the server has ended and
      // closed that response, and a response is logged only on 'close'. So the log first waits for every
      // response whose body has all been written; one still short of its body (held, gated, broken
      // off) is not waited for, and shows once it closes. A client that never reads a body it was sent
      // would hold its response open for ever: past 10 s the log answers without it, as it always did.
      const sent = [...inflight].filter(
        (o) => o.res !== res && (o.res.writableEnded || o.written() >= Number(o.res.getHeader('content-length') ?? Number.POSITIVE_INFINITY)),
      );
      /** @type {ReturnType<typeof setTimeout> | undefined} */
      let bound;
      const giveUp = new Promise((resolve) => (bound = setTimeout(resolve, 10_000)));
      void Promise.race([Promise.all(sent.map((o) => o.closed)), giveUp]).then(() => {
        clearTimeout(bound);
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify(requests));
      });
    } else if (path.startsWith('/mutated/')) {
      const [, , kind, ...rest] = path.split('/');
      const mutate = MUTATIONS[kind ?? ''];
      if (!mutate || rest.join('/') !== 'manifest.json') return void res.writeHead(404).end();
      const manifest = JSON.parse(readFileSync(join(root, 'digits/release/manifest.json'), 'utf8'));
      // Only fp32: each mutation breaks that variant.
      manifest.variants = { fp32: manifest.variants.fp32 };
      for (const file of manifest.variants.fp32.files) file.path = `../../digits/release/${file.path}`;
      mutate(manifest);
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify(manifest));
    } else if (path.startsWith('/slow/')) {
      // The same file at ~bytesPerSecond, in 1 KiB writes: a slow mobile link.
      const file = normalize(join(root, path.slice('/slow/'.length)));
      if (!file.startsWith(root) || !statSync(file, { throwIfNoEntry: false })?.isFile()) return void res.writeHead(404).end();
      const rate = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('bps') ?? 20_000);
      res.setHeader('Content-Type', 'application/octet-stream');
      res.setHeader('Content-Length', statSync(file).size);
      const stream = createReadStream(file, { highWaterMark: 1024 });
      stream.on('data', (chunk) => {
        stream.pause();
        res.write(chunk);
        setTimeout(() => stream.resume(), (chunk.length / rate) * 1000);
      });
      stream.on('end', () => res.end());
      res.on('close', () => stream.destroy());
    } else if (path.startsWith('/gated/')) {
      // /gated/<gate>/<file>: the file's first ?after= bytes (default 1,000), then the rest only once the
      // test opens the gate (PUT /__gate/<gate>); GET /__gate/<gate> says how many wait there. What
      // happens meanwhile is the test's to arrange, with no rate racing it.
      const [, , gate = '', ...rest] = path.split('/');
      const file = normalize(join(root, rest.join('/')));
      if (!file.startsWith(root) || !statSync(file, { throwIfNoEntry: false })?.isFile()) return void res.writeHead(404).end();
      const after = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('after') ?? 1_000);
      const bytes = readFileSync(file);
      res.setHeader('Content-Type', 'application/octet-stream');
      res.setHeader('Content-Length', bytes.length);
      res.write(bytes.subarray(0, after));
      const waiting = gates.get(gate) ?? [];
      gates.set(gate, waiting);
      const send = () => void res.end(bytes.subarray(after));
      waiting.push(send);
      res.on('close', () => {
        const at = waiting.indexOf(send);
        if (at >= 0) waiting.splice(at, 1);
      });
    } else if (path.startsWith('/__gate/')) {
      const gate = path.slice('/__gate/'.length);
      const waiting = gates.get(gate) ?? [];
      if (req.method === 'PUT') {
        for (const send of waiting.splice(0)) send();
        return void res.writeHead(204).end();
      }
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ waiting: waiting.length }));
    } else if (path.startsWith('/held/')) {
      // The file's first ?after= bytes (default 20,000), then nothing, until the client goes away: a
      // download that can never complete, so a test that aborts it does not race the transfer.
      const file = normalize(join(root, path.slice('/held/'.length)));
      if (!file.startsWith(root) || !statSync(file, { throwIfNoEntry: false })?.isFile()) return void res.writeHead(404).end();
      const after = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('after') ?? 20_000);
      res.setHeader('Content-Type', 'application/octet-stream');
      res.setHeader('Content-Length', statSync(file).size);
      const head = readFileSync(file).subarray(0, after);
      res.write(head);
    } else if (path === '/__redirect') {
      // A host that redirects: 302 to ?to= (another origin, or this one).
      const to = new URL(req.url ?? '/', 'http://x').searchParams.get('to') ?? '/';
      res.writeHead(302, { Location: to }).end();
    } else if (path.startsWith('/no-etag/')) {
      // A host that sends no validator at all (no ETag, no Last-Modified): the file's bytes only.
      const file = normalize(join(root, path.slice('/no-etag/'.length)));
      if (!file.startsWith(root) || !statSync(file, { throwIfNoEntry: false })?.isFile()) return void res.writeHead(404).end();
      res.setHeader('Content-Type', 'application/octet-stream');
      res.setHeader('Content-Length', statSync(file).size);
      createReadStream(file).pipe(res);
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
    // Ends open connections too: a browser's response left mid-stream must not hold the run open.
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve(undefined));
      }),
  };
}

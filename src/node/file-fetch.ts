/**
 * @file `fetch` for `file:` URLs (Node's own fetch refuses them): a release shipped inside an app is
 * read from disk the way a host would serve it, with an ETag (size and mtime), `If-None-Match` → 304
 * and `Range` → 206, so the update and resume logic is the same as over HTTP.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Fetch } from '../download/fetch-file.js';
import { OndeviceError } from '../errors.js';

export function fileAwareFetch(base: Fetch = globalThis.fetch.bind(globalThis)): Fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith('file:')) return base(input, init);
    return serveFile(new URL(url), new Headers(init?.headers), init?.signal ?? undefined);
  };
}

async function serveFile(url: URL, headers: Headers, signal: AbortSignal | undefined): Promise<Response> {
  signal?.throwIfAborted();
  const path = fileURLToPath(url);
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) {
    throw new OndeviceError('DOWNLOAD_FAILED', `${path} was not found: check the path (relative paths are resolved from the working directory, ${process.cwd()}). A release folder holds manifest.json and its files, as ondevice publish writes them.`, {
      details: { url: url.href, path, status: 404 },
    });
  }
  const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
  const common = { etag, 'last-modified': info.mtime.toUTCString(), 'accept-ranges': 'bytes' };
  if (headers.get('if-none-match')?.split(',').some((t) => t.trim() === etag)) return new Response(null, { status: 304, headers: common });
  const range = /^bytes=(\d+)-(\d*)$/.exec(headers.get('range') ?? '');
  const ifRange = headers.get('if-range');
  if (range && (!ifRange || ifRange === etag)) {
    const start = Number(range[1]);
    const end = range[2] ? Math.min(Number(range[2]), info.size - 1) : info.size - 1;
    if (start >= info.size || start > end) return new Response(null, { status: 416, headers: { ...common, 'content-range': `bytes */${info.size}` } });
    const body = readStream(path, signal, { start, end });
    return new Response(body, { status: 206, headers: { ...common, 'content-length': String(end - start + 1), 'content-range': `bytes ${start}-${end}/${info.size}` } });
  }
  const body = readStream(path, signal, {});
  const type = path.endsWith('.json') ? 'application/json' : 'application/octet-stream';
  return new Response(body, { status: 200, headers: { ...common, 'content-length': String(info.size), 'content-type': type } });
}

/**
 * The file as a web stream that an abort ends. Not `createReadStream`'s own `signal`: an abort that
 * lands before the body is read (a disposed model's update check) made its AbortError an uncaught
 * exception in Node 20.
 */
function readStream(path: string, signal: AbortSignal | undefined, range: { start?: number; end?: number }): ReadableStream<Uint8Array> {
  const stream = createReadStream(path, range);
  // Errors reach the reader through the web stream; this keeps them from also being uncaught.
  stream.on('error', () => undefined);
  if (signal) {
    const stop = () => stream.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal.addEventListener('abort', stop, { once: true });
    stream.once('close', () => signal.removeEventListener('abort', stop));
  }
  return Readable.toWeb(stream) as ReadableStream<Uint8Array>;
}

/** @file From the URL the app named to the model's verified bytes: manifest or bare file, download, verify. */
import { OndeviceError, throwIfAborted } from '../errors.js';
import { contentLength, htmlInsteadOf, isHtml, openUrl, readBody, type Fetch } from '../download/fetch-file.js';
import { verifySha256 } from '../download/verify.js';
import { parseManifest } from '../manifest/parse.js';
import type { Manifest, ManifestFile } from '../manifest/types.js';
import type { ModelFileBytes } from '../runtime/types.js';
import type { ProgressEmitter } from './progress.js';

export interface ModelSource {
  url: string;
  name: string;
  version: string | null;
  variant: string | null;
  manifest: Manifest | undefined;
  files: ModelFileBytes[];
}

interface Context {
  fetch: Fetch;
  signal: AbortSignal | undefined;
  progress: ProgressEmitter;
}

/**
 * One request decides what the URL is: a JSON answer (or a `.json` path) is a manifest, anything
 * else is the model file itself, whose body is then read from that same response.
 */
export async function fetchModelSource(url: string, context: Context): Promise<ModelSource> {
  const response = await openUrl(url, context.fetch, context.signal);
  const type = response.headers.get('content-type') ?? '';
  const isJson = /\bjson\b/i.test(type) || new URL(url).pathname.endsWith('.json');
  if (isJson) {
    context.progress.emit({ phase: 'manifest', url });
    const manifest = await readManifest(response, url, context.signal);
    return fetchManifestFiles(manifest, url, context);
  }
  return fetchBareModel(response, url, context);
}

async function readManifest(response: Response, url: string, signal: AbortSignal | undefined): Promise<Manifest> {
  if (isHtml(response, undefined)) throw htmlInsteadOf('manifest', url, response);
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    throwIfAborted(signal);
    throw new OndeviceError('DOWNLOAD_FAILED', `Reading the manifest ${url} failed. Try again.`, { details: { url }, cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    if (/^\s*</.test(text)) throw htmlInsteadOf('manifest', url, response);
    throw new OndeviceError('MANIFEST_INVALID', `The manifest ${url} is not valid JSON (${error instanceof Error ? error.message : String(error)}).`, { details: { url } });
  }
  return parseManifest(json, url);
}

/** The variant to load. Choosing by device (fp16 on WebGPU, int8 on WASM) arrives with quantized variants. */
function pickVariant(manifest: Manifest): string {
  const names = Object.keys(manifest.variants);
  return names.includes('fp32') ? 'fp32' : (names.find((n) => manifest.variants[n]?.requires.length === 0) ?? names[0]!);
}

async function fetchManifestFiles(manifest: Manifest, url: string, context: Context): Promise<ModelSource> {
  if (manifest.runtime !== 'onnx') {
    throw new OndeviceError('BACKEND_UNAVAILABLE', `This version of ondevice runs "onnx" models; the manifest at ${url} is "${manifest.runtime}".`, {
      details: { url, runtime: manifest.runtime },
    });
  }
  const variant = pickVariant(manifest);
  const files = manifest.variants[variant]!.files;
  const total = files.reduce((sum, f) => sum + f.size, 0);
  const counter = { done: 0 };
  const result: ModelFileBytes[] = [];
  for (const file of files) result.push(await fetchVerifiedFile(file, total, counter, context));
  return { url, name: manifest.name, version: manifest.version, variant, manifest, files: result };
}

async function fetchVerifiedFile(file: ManifestFile, total: number, counter: { done: number }, context: Context): Promise<ModelFileBytes> {
  const response = await openUrl(file.url, context.fetch, context.signal);
  const before = counter.done;
  const bytes = await readModelBody(response, file.url, file.size, context, (received) =>
    context.progress.emit({ phase: 'download', url: file.url, loaded: before + received, total }),
  );
  counter.done = before + bytes.length;
  if (file.size === 0) context.progress.emit({ phase: 'download', url: file.url, loaded: counter.done, total });
  context.progress.emit({ phase: 'verify', url: file.url });
  await verifySha256(bytes, file.sha256, file.url);
  return { path: file.path, bytes };
}

async function fetchBareModel(response: Response, url: string, context: Context): Promise<ModelSource> {
  const total = contentLength(response) ?? null;
  const bytes = await readModelBody(response, url, undefined, context, (received) =>
    context.progress.emit({ phase: 'download', url, loaded: received, total }),
  );
  if (bytes.length === 0) throw new OndeviceError('MODEL_INVALID', `${url} answered an empty body where the model should be.`, { details: { url } });
  const path = new URL(url).pathname.split('/').pop() ?? 'model.onnx';
  const etag = response.headers.get('etag');
  return {
    url,
    name: path.replace(/\.onnx$/i, '') || 'model',
    version: etag ? etag.replace(/^W\//, '').replace(/"/g, '') : null,
    variant: null,
    manifest: undefined,
    files: [{ path, bytes }],
  };
}

/** A model file's body, refused as soon as its headers or first bytes show an HTML page. */
function readModelBody(response: Response, url: string, expectedSize: number | undefined, context: Context, onBytes: (received: number) => void): Promise<Uint8Array> {
  if (isHtml(response, undefined)) throw htmlInsteadOf('model', url, response);
  return readBody(response, {
    url,
    expectedSize,
    signal: context.signal,
    onBytes,
    onFirstChunk: (chunk) => {
      if (isHtml(response, chunk)) throw htmlInsteadOf('model', url, response);
    },
  });
}

/** @file `loadModel` for Node: a manifest or model by URL (`https:`, `http:`, `file:`) or path → a `Model` on onnxruntime-node. */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { OndeviceError, errorFromWire, throwIfAborted, toOndeviceError } from '../errors.js';
import { loadRequest } from '../load-model.js';
import { OndeviceModel, type Opened } from '../model.js';
import type { ModelEvent } from '../pipeline/host.js';
import type { LoadOptions, Model } from '../types.js';
import { defaultCacheDir } from './cache-dir.js';
import { directConnection } from '../pipeline/connection.js';
import { nodeHost } from './host.js';

/** `loadModel`'s options in Node: the browser's, less what only a browser has, plus `cacheDir`. */
export interface NodeLoadOptions extends Omit<LoadOptions, 'worker' | 'persist' | 'storage'> {
  /**
   * The cache directory, shared safely by every process that uses it.
   * @default $ONDEVICE_CACHE_DIR, else the platform's user cache directory + /ondevice (~/.cache/ondevice on Linux)
   * @example cacheDir: path.join(app.getPath('userData'), 'models')
   */
  cacheDir?: string;
  /**
   * Milliseconds the model host may take to answer a request: its status and headers, then each chunk
   * of its body. Past it the request is aborted and counts as a network failure (a blocking load then
   * starts the cached version). At most 2^31−1.
   * @default 30_000
   */
  timeoutMs?: number;
}

/** A URL as it is, a path (absolute, or relative to the working directory) as a `file:` URL. */
export function sourceUrl(source: string | URL): URL {
  if (source instanceof URL) return source;
  if (/^(https?|file):/i.test(source)) return new URL(source);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) {
    throw new OndeviceError('INPUT_INVALID', `ondevice/node loads from https:, http: and file: URLs or paths; got ${JSON.stringify(source)}.`, { details: { input: 'url', actual: source } });
  }
  return pathToFileURL(isAbsolute(source) ? source : resolve(source));
}

/** Option `timeoutMs`, checked: a whole number of milliseconds up to 2^31−1 (a Node timer's limit). @default 30_000 */
export function hostTimeout(timeoutMs: number | undefined): number {
  const ms = timeoutMs ?? 30_000;
  if (!(Number.isInteger(ms) && ms >= 1 && ms <= 2 ** 31 - 1)) {
    throw new OndeviceError('INPUT_INVALID', `Option "timeoutMs" must be a whole number of milliseconds from 1 to ${2 ** 31 - 1}; got ${JSON.stringify(ms)}.`, { details: { input: 'timeoutMs', actual: ms } });
  }
  return ms;
}

/**
 * Loads a model from a manifest (`ondevice/1`) or a bare `.onnx`, by URL or path, caching it on disk.
 *
 * @example
 * import { loadModel } from 'ondevice/node';
 * const model = await loadModel('https://cdn.example.com/models/digits/manifest.json');
 * const { logits } = await model.run({ image: { type: 'float32', data, dims: [1, 1, 8, 8] } });
 * await model.dispose();
 */
export async function loadModel(source: string | URL, options: NodeLoadOptions = {}): Promise<Model> {
  try {
    return await load(source, options);
  } catch (error) {
    throw toOndeviceError(error);
  }
}

async function load(source: string | URL, options: NodeLoadOptions): Promise<Model> {
  const request = loadRequest(sourceUrl(source), options);
  throwIfAborted(options.signal);
  const timeoutMs = hostTimeout(options.timeoutMs);
  const host = await nodeHost(resolve(options.cacheDir ?? defaultCacheDir()), timeoutMs);
  let model: OndeviceModel | undefined;
  const early: ModelEvent[] = [];
  const onEvent = (event: ModelEvent) => (model ? model.handle(event) : early.push(event));
  const conn = directConnection(host);
  const open = async (controls: Parameters<typeof conn.load>[1], req = request): Promise<Opened> => {
    const result = await conn.load(req, controls);
    // Every runtime lives in this process.
    if (result.kind === 'moved') throw new OndeviceError('INTERNAL', `No runtime for ${result.runtime} models in ondevice/node.`, { details: { runtime: result.runtime } });
    return { connection: conn, id: result.id, info: result.info, updateError: result.updateError && toOndeviceError(errorFromWire(result.updateError)) };
  };
  const opened = await open({ signal: options.signal, onProgress: options.onProgress, onEvent });
  model = new OndeviceModel(opened, () => open({ onEvent }, { ...request, update: 'never' }), options.onUpdate, options.onStats);
  for (const event of early.splice(0)) model.handle(event);
  return model;
}

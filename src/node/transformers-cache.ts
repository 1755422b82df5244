/** @file `transformersCache` in Node: transformers.js's custom cache on the disk cache of `ondevice/node`. */
import { resolve } from 'node:path';
import { createTransformersCache, type TransformersCache, type TransformersCacheOptions } from '../transformers-hook.js';
import { defaultCacheDir } from './cache-dir.js';
import { nodeHost } from './host.js';
import { hostTimeout, sourceUrl, type NodeLoadOptions } from './load-model.js';

/** `transformersCache`'s options in Node: the browser's, plus where the cache lives and how long the host may take. */
export interface NodeTransformersCacheOptions extends Omit<TransformersCacheOptions, 'storage'>, Pick<NodeLoadOptions, 'cacheDir' | 'timeoutMs'> {}

/**
 * transformers.js's custom cache (`env.customCache`) answered from ondevice releases on the disk cache
 * (see the browser's `transformersCache`). Manifest URLs may be `https:`, `http:`, `file:` or paths.
 *
 * @example
 * import { env, pipeline } from '@huggingface/transformers';
 * import { transformersCache } from 'ondevice/node';
 * env.useCustomCache = true;
 * env.customCache = await transformersCache({ models: { 'acme/tiny-bert': 'https://cdn.example.com/models/tiny-bert/manifest.json' } });
 */
export async function transformersCache(options: NodeTransformersCacheOptions): Promise<TransformersCache> {
  const timeoutMs = hostTimeout(options.timeoutMs);
  const models = Object.fromEntries(Object.entries(options.models ?? {}).map(([repo, url]) => [repo, sourceUrl(url)]));
  const host = await nodeHost(resolve(options.cacheDir ?? defaultCacheDir()), timeoutMs);
  return createTransformersCache(() => host, { ...options, models }, 'fp32');
}

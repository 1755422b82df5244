/**
 * @file `transformersCache` in the browser: transformers.js's custom cache, answered from ondevice
 * releases in the caller's own thread (the page, or the app's worker that runs transformers.js), on
 * the same IndexedDB/OPFS cache as `loadModel`. No session is made here: transformers.js makes its own.
 */
import type { ModelHost } from './pipeline/host.js';
import type { TransformersCache, TransformersCacheOptions } from './transformers-hook.js';

let host: Promise<ModelHost> | undefined;
let hook: Promise<typeof import('./transformers-hook.js')> | undefined;

/**
 * A cache for transformers.js (`env.customCache`) that serves the repos named in `models` from
 * ondevice releases: versioned as a whole, verified, revocable, signed, offline after the first
 * visit. Every file one cache object serves comes from one version; a newer one is served by the next
 * `transformersCache()`, and `onUpdate` says when it is ready.
 *
 * @example
 * import { env, pipeline } from '@huggingface/transformers';
 * import { transformersCache } from 'ondevice';
 * env.useCustomCache = true;
 * env.customCache = await transformersCache({ models: { 'acme/tiny-bert': 'https://cdn.example.com/models/tiny-bert/manifest.json' } });
 * const extractor = await pipeline('feature-extraction', 'acme/tiny-bert');
 */
export async function transformersCache(options: TransformersCacheOptions): Promise<TransformersCache> {
  // Loaded on first use, as loadModel's in-thread host is: an app that never calls this pays nothing.
  // No runtime: this host only resolves and reads releases (transformers.js runs the model).
  host ??= import('./pipeline/host.js').then(({ createModelHost }) => createModelHost({ runtimes: {} }));
  const { createTransformersCache } = await (hook ??= import('./transformers-hook.js'));
  return createTransformersCache(() => host!, options, 'int8');
}

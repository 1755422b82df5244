/** @file `modelCache` on the disk cache: the default directory's, or any directory's with `openModelCache`. */
import { resolve } from 'node:path';
import { codedModelCache, createModelCache, type ModelCache } from '../cache/model-cache.js';
import { defaultCacheDir, diskReport } from './cache-dir.js';
import { diskStore } from './host.js';
import { sourceUrl } from './load-model.js';

/**
 * The cache in `cacheDir` (the same directory as `loadModel`'s option).
 * @example const cache = openModelCache(path.join(app.getPath('userData'), 'models'));
 */
export function openModelCache(cacheDir: string = defaultCacheDir()): ModelCache {
  const dir = resolve(cacheDir);
  const cache = createModelCache(() => diskStore(dir), diskReport(dir, () => diskStore(dir)));
  // A model loaded by path is known by its file: URL.
  return codedModelCache({ ...cache, remove: async (source) => cache.remove(sourceUrl(source).href) });
}

/** The default cache directory's models (`$ONDEVICE_CACHE_DIR`, else the platform's user cache directory), read when called. */
export const modelCache: ModelCache = {
  list: () => openModelCache().list(),
  remove: (url) => openModelCache().remove(url),
  clear: () => openModelCache().clear(),
  usage: () => openModelCache().usage(),
};

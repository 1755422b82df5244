/** @file Where `ondevice/node` caches: `cacheDir`, else `$ONDEVICE_CACHE_DIR`, else the platform's user cache directory. */
import { statfs } from 'node:fs/promises';
import { resolve } from 'node:path';
import envPaths from 'env-paths';
import type { Estimate } from '../cache/quota.js';
import type { StorageReport } from '../cache/model-cache.js';
import type { CacheStore } from '../cache/store.js';

/**
 * The cache directory: `~/.cache/ondevice` on Linux (`$XDG_CACHE_HOME`), `~/Library/Caches/ondevice` on
 * macOS, `%LOCALAPPDATA%\ondevice\Cache` on Windows (env-paths knows each platform's convention).
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['ONDEVICE_CACHE_DIR'];
  return resolve(fromEnv && fromEnv.trim() !== '' ? fromEnv : envPaths('ondevice', { suffix: '' }).cache);
}

/** Free space on the cache's disk, as the browser's quota: usage is what the cache holds, quota that plus what is free. */
export function diskEstimate(dir: string, store: () => CacheStore): Estimate {
  return async () => {
    const [fs, files] = await Promise.all([statfs(dir).catch(() => undefined), store().listFiles().catch(() => [])]);
    const usage = files.reduce((sum, f) => sum + f.size, 0);
    return fs ? { usage, quota: usage + fs.bavail * fs.bsize } : { usage };
  };
}

export function diskReport(dir: string, store: () => CacheStore): StorageReport {
  const estimate = diskEstimate(dir, store);
  return { estimate, persisted: async () => true };
}

/**
 * @file `modelCache`: what the device holds, and the app's hands on it. Runs against IndexedDB in
 * whatever context calls it (the page, usually), which the worker shares.
 */
import { parseUrl, toOndeviceError } from '../errors.js';
import { collectGarbage } from './gc.js';
import { recordBytes, tombstone, versionOf } from './records.js';
import { defaultCacheStore, type CacheStore, type StoreKind } from './store.js';

/** One model the device holds, as `modelCache.list()` gives it. */
export interface CachedModel {
  name: string;
  /** The URL the app loaded it from (a manifest, or a bare model file). */
  manifestUrl: string;
  /** Complete, verified versions held, newest activation first. */
  versions: string[];
  activeVersion: string | null;
  /** Bytes of its files (a file shared with another model counts for each). */
  bytes: number;
  /** When the host was last asked (ms since epoch), `null` if never. */
  lastChecked: number | null;
  lastUsed: number;
}

/** What the cache takes on this device, as `modelCache.usage()` gives it. */
export interface CacheUsage {
  /** Bytes held by the library: model files (each once), and what interrupted downloads keep for a resume. */
  bytes: number;
  models: number;
  /** The origin's usage and quota, from `navigator.storage.estimate()` (`null` where unsupported). */
  originUsage: number | null;
  originQuota: number | null;
  /** Whether the origin's storage is persistent (`navigator.storage.persisted()`); `null` where unknown. */
  persisted: boolean | null;
  /**
   * Where new files' bytes go from this context under `storage: 'auto'`: `'opfs'` (the origin private
   * file system) where it can be written here, else `'indexeddb'`. Files of 1 MiB or less go to
   * IndexedDB either way.
   */
  store: StoreKind;
  /** Bytes of cached files by the store that holds them (a load may have forced either). */
  storeBytes: Record<StoreKind, number>;
}

/** What the device holds: list, remove and measure cached models, or clear them all. */
export interface ModelCache {
  list(): Promise<CachedModel[]>;
  /** Forgets the model loaded from `url` and deletes the files no other model uses. */
  remove(url: string): Promise<void>;
  /** Deletes every cached model and file. */
  clear(): Promise<void>;
  usage(): Promise<CacheUsage>;
}

/** What `usage()` reports as the origin's usage and quota, and its persistence (Node: the disk's). */
export interface StorageReport {
  estimate(): Promise<{ usage?: number; quota?: number } | undefined>;
  persisted(): Promise<boolean | undefined>;
}

const browserStorage: StorageReport = {
  estimate: async () => globalThis.navigator?.storage?.estimate?.().catch(() => undefined),
  persisted: async () => globalThis.navigator?.storage?.persisted?.().catch(() => undefined),
};

/** The cache API over a store; `modelCache` is this over the default IndexedDB store. */
export function createModelCache(store: () => CacheStore = defaultCacheStore, storage: StorageReport = browserStorage): ModelCache {
  return {
    async list() {
      return (await store().listModels()).filter((r) => !r.removed).map((r) => ({
        name: r.name,
        manifestUrl: r.url,
        versions: [r.active, r.previous].filter((v): v is string => v !== null && versionOf(r, v) !== undefined),
        activeVersion: r.active,
        bytes: recordBytes(r),
        lastChecked: r.lastChecked,
        lastUsed: r.lastUsed,
      }));
    },
    async remove(url) {
      // Its versions and bytes go; what the device learnt (revocations, the highest version it ran) stays.
      await store().updateModel(parseUrl(url, 'manifestUrl').href, (r) => r && tombstone(r));
      await collectGarbage(store());
    },
    async clear() {
      // Everything, what the device learnt included: the app's reset.
      for (const record of await store().listModels()) await store().deleteModel(record.url);
      // Everything goes, what interrupted downloads kept for a resume included.
      await collectGarbage(store(), { partials: true });
    },
    async usage() {
      const [files, models, partials, where, strays] = await Promise.all([store().listFiles(), store().listModels().then((all) => all.filter((r) => !r.removed)), store().listPartials(), store().byteStore(), store().strays?.bytes() ?? 0]);
      const storeBytes: Record<StoreKind, number> = { opfs: 0, indexeddb: 0, disk: 0 };
      for (const file of files) storeBytes[file.store ?? 'indexeddb'] += file.size;
      const estimate = await storage.estimate();
      const persisted = await storage.persisted();
      return {
        bytes: files.reduce((sum, f) => sum + f.size, 0) + partials.reduce((sum, p) => sum + p.received, 0) + strays,
        models: models.length,
        originUsage: estimate?.usage ?? null,
        originQuota: estimate?.quota ?? null,
        persisted: persisted ?? null,
        store: where,
        storeBytes,
      };
    },
  };
}

/** Every failure is an `OndeviceError` with a code, as everywhere else in the library. */
function coded(cache: ModelCache): ModelCache {
  const wrap =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await fn(...args);
      } catch (error) {
        throw toOndeviceError(error);
      }
    };
  return { list: wrap(cache.list), remove: wrap(cache.remove), clear: wrap(cache.clear), usage: wrap(cache.usage) };
}

export const modelCache: ModelCache = coded(createModelCache());

export { coded as codedModelCache };

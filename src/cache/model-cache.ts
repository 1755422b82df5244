/**
 * @file `modelCache`: what the device holds, and the app's hands on it. Runs against IndexedDB in
 * whatever context calls it (the page, usually), which the worker shares.
 */
import { collectGarbage } from './gc.js';
import { recordBytes, versionOf } from './records.js';
import { defaultCacheStore, type CacheStore } from './store.js';

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

export interface CacheUsage {
  /** Bytes of model files held by the library (each file once). */
  bytes: number;
  models: number;
  /** The origin's usage and quota, from `navigator.storage.estimate()` (`null` where unsupported). */
  originUsage: number | null;
  originQuota: number | null;
  /** Whether the origin's storage is persistent (`navigator.storage.persisted()`); `null` where unknown. */
  persisted: boolean | null;
}

export interface ModelCache {
  list(): Promise<CachedModel[]>;
  /** Forgets the model loaded from `url` and deletes the files no other model uses. */
  remove(url: string): Promise<void>;
  /** Deletes every cached model and file. */
  clear(): Promise<void>;
  usage(): Promise<CacheUsage>;
}

/** The cache API over a store; `modelCache` is this over the default IndexedDB store. */
export function createModelCache(store: () => CacheStore = defaultCacheStore): ModelCache {
  return {
    async list() {
      return (await store().listModels()).map((r) => ({
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
      await store().deleteModel(new URL(url, globalThis.location?.href).href);
      await collectGarbage(store());
    },
    async clear() {
      for (const record of await store().listModels()) await store().deleteModel(record.url);
      await collectGarbage(store());
    },
    async usage() {
      const [files, models] = await Promise.all([store().listFiles(), store().listModels()]);
      const storage = globalThis.navigator?.storage;
      const estimate = await storage?.estimate?.().catch(() => undefined);
      const persisted = await storage?.persisted?.().catch(() => undefined);
      return {
        bytes: files.reduce((sum, f) => sum + f.size, 0),
        models: models.length,
        originUsage: estimate?.usage ?? null,
        originQuota: estimate?.quota ?? null,
        persisted: persisted ?? null,
      };
    },
  };
}

export const modelCache: ModelCache = createModelCache();

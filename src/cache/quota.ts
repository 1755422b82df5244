/**
 * @file Space before download: the bytes a version still needs against the browser's quota and the
 * app's `maxCacheBytes`, evicting least-recently-used other models when that makes it fit.
 */
import { OndeviceError } from '../errors.js';
import { collectGarbage } from './gc.js';
import type { CacheStore } from './store.js';

export interface SpaceRequest {
  /** Bytes of the files that are not stored yet. */
  needed: number;
  /** The model being loaded: never evicted for itself. */
  url: string;
  maxCacheBytes: number | undefined;
  /** Models loaded in this context right now: not evicted. */
  inUse: ReadonlySet<string>;
}

export type Estimate = () => Promise<{ quota?: number; usage?: number }>;

const browserEstimate: Estimate = async () => (await globalThis.navigator?.storage?.estimate?.()) ?? {};

async function available(store: CacheStore, maxCacheBytes: number | undefined, estimate: Estimate): Promise<number> {
  const { quota, usage } = await estimate().catch(() => ({ quota: undefined, usage: undefined }));
  let free = quota !== undefined && usage !== undefined ? quota - usage : Number.POSITIVE_INFINITY;
  if (maxCacheBytes !== undefined) {
    const cached = (await store.listFiles()).reduce((sum, f) => sum + f.size, 0);
    free = Math.min(free, maxCacheBytes - cached);
  }
  return free;
}

/** Resolves when `needed` bytes fit; otherwise evicts LRU models, and throws `QUOTA_EXCEEDED` if still short. */
export async function ensureSpace(store: CacheStore, request: SpaceRequest, estimate: Estimate = browserEstimate): Promise<void> {
  let free = await available(store, request.maxCacheBytes, estimate);
  if (request.needed <= free) return;
  const candidates = (await store.listModels())
    .filter((r) => r.url !== request.url && !request.inUse.has(r.url))
    .sort((a, b) => a.lastUsed - b.lastUsed);
  for (const victim of candidates) {
    await store.deleteModel(victim.url);
    await collectGarbage(store);
    free = await available(store, request.maxCacheBytes, estimate);
    if (request.needed <= free) return;
  }
  throw new OndeviceError('QUOTA_EXCEEDED', `The model needs ${request.needed} bytes of storage but only ${Math.max(0, free)} are available${request.maxCacheBytes !== undefined ? ` (maxCacheBytes ${request.maxCacheBytes})` : ''}. Free space on the device or raise maxCacheBytes.`, {
    details: { needed: request.needed, available: Math.max(0, free) },
  });
}

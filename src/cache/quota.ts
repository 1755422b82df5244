/**
 * @file Space before download: the bytes a version still needs against the browser's quota and the
 * app's `maxCacheBytes`. Least-recently-used other models are evicted when that makes it fit, but
 * only models that run nowhere (no tab or worker holds their `model:<url>` lock), and nothing at all
 * when even evicting every one of them could not make room.
 */
import { OndeviceError } from '../errors.js';
import { collectGarbage } from './gc.js';
import { ifUnlocked, heldLockNames } from './locks.js';
import { referencedFiles, tombstone, type ModelRecord } from './records.js';
import type { CacheStore } from './store.js';

export interface SpaceRequest {
  /** Bytes of the files that are not stored yet. */
  needed: number;
  /** The model being loaded: never evicted for itself. */
  url: string;
  maxCacheBytes: number | undefined;
  /** Models loaded in this context right now: not evicted (other contexts' are seen through their locks). */
  inUse: ReadonlySet<string>;
}

export type Estimate = () => Promise<{ quota?: number; usage?: number }>;

/** The lock every context holds, shared, for each model it has loaded. */
export const modelLock = (url: string): string => `model:${url}`;

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

/** Bytes that evicting `victims` would free: their files that no other model keeps. */
function freeable(all: readonly ModelRecord[], victims: readonly ModelRecord[]): number {
  const gone = new Set(victims.map((r) => r.url));
  const kept = referencedFiles(all.filter((r) => !gone.has(r.url)));
  const sizes = new Map<string, number>();
  for (const victim of victims) for (const v of Object.values(victim.versions)) for (const f of v.files) if (!kept.has(f.sha256)) sizes.set(f.sha256, f.size);
  return [...sizes.values()].reduce((a, b) => a + b, 0);
}

function tooBig(request: SpaceRequest, free: number): OndeviceError {
  return new OndeviceError('QUOTA_EXCEEDED', `The model needs ${request.needed} bytes of storage but only ${Math.max(0, free)} are available${request.maxCacheBytes !== undefined ? ` (maxCacheBytes ${request.maxCacheBytes})` : ''}. Free space on the device or raise maxCacheBytes.`, {
    details: { needed: request.needed, available: Math.max(0, free) },
  });
}

/** Resolves when `needed` bytes fit; otherwise evicts LRU models that run nowhere, and throws `QUOTA_EXCEEDED` if still short. */
export async function ensureSpace(store: CacheStore, request: SpaceRequest, estimate: Estimate = browserEstimate): Promise<void> {
  let free = await available(store, request.maxCacheBytes, estimate);
  if (request.needed <= free) return;
  const all = await store.listModels();
  const running = await heldLockNames(store);
  const candidates = all
    .filter((r) => !r.removed && r.url !== request.url && !request.inUse.has(r.url) && !running.has(modelLock(r.url)))
    .sort((a, b) => a.lastUsed - b.lastUsed);
  // Nothing is evicted for a download that would not fit even with every candidate gone.
  const atMost = free + freeable(all, candidates);
  if (request.needed > atMost) throw tooBig(request, atMost);
  for (const victim of candidates) {
    // A tab may have started the model since the look above: its lock says so.
    // Its bytes go; what the device learnt of it stays (a tombstone, see records.ts).
    await ifUnlocked(store, modelLock(victim.url), () => store.updateModel(victim.url, (r) => r && tombstone(r)));
    await collectGarbage(store);
    free = await available(store, request.maxCacheBytes, estimate);
    if (request.needed <= free) return;
  }
  throw tooBig(request, free);
}


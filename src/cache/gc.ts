/** @file Garbage collection: files no kept version refers to are deleted, unless a context is writing them now. */
import { heldLocks } from '../update/coordination.js';
import { referencedFiles } from './records.js';
import type { CacheStore } from './store.js';

const PARTIAL_LIFETIME_MS = 24 * 60 * 60 * 1000;

export async function collectGarbage(store: CacheStore): Promise<number> {
  const keep = referencedFiles(await store.listModels());
  const busy = await heldLocks();
  let freed = 0;
  for (const file of await store.listFiles()) {
    if (keep.has(file.sha256) || busy.has(`file:${file.sha256}`)) continue;
    await store.deleteFile(file.sha256);
    freed += file.size;
  }
  // Chunks without a file record: a write that was interrupted (tab closed, quota), or what an
  // interrupted download received, kept a day so that the next load can resume it.
  for (const sha256 of await store.chunkOwners()) {
    if (keep.has(sha256) || busy.has(`file:${sha256}`) || (await store.getFile(sha256))) continue;
    const savedAt = await store.partialSavedAt(sha256).catch(() => undefined);
    if (savedAt !== undefined && Date.now() - savedAt < PARTIAL_LIFETIME_MS) continue;
    await store.deletePartial(sha256);
    await store.deleteFile(sha256);
  }
  return freed;
}

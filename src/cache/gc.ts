/**
 * @file Garbage collection: files no kept version refers to are deleted. Each file is deleted under
 * its exclusive Web Lock, taken only if no context holds it (a reader holds it shared, a download or
 * an activation exclusive), and its references are checked again inside the lock: a commit that
 * reused the file by hash may have landed since the first look.
 */
import { fileLock } from './files.js';
import { ifUnlocked } from './locks.js';
import { referencedFiles } from './records.js';
import type { CacheStore } from './store.js';

const PARTIAL_LIFETIME_MS = 24 * 60 * 60 * 1000;

export interface GcOptions {
  /** Delete what interrupted downloads left, however recent (`modelCache.clear()`). @default false */
  partials?: boolean;
}

export async function collectGarbage(store: CacheStore, options: GcOptions = {}): Promise<number> {
  const referenced = async () => referencedFiles(await store.listModels());
  const keep = await referenced();
  let freed = 0;
  for (const file of await store.listFiles()) {
    if (keep.has(file.sha256)) continue;
    const deleted = await ifUnlocked(store, fileLock(file.sha256), async () => {
      if ((await referenced()).has(file.sha256)) return false;
      await store.deleteFile(file.sha256);
      return true;
    });
    if (deleted) freed += file.size;
  }
  // Bytes without a file record: a write that was interrupted (tab closed, quota), or what an
  // interrupted download received, kept a day so that the next load can resume it.
  for (const sha256 of await store.byteOwners()) {
    if (keep.has(sha256)) continue;
    await ifUnlocked(store, fileLock(sha256), async () => {
      if ((await store.getFile(sha256)) || (await referenced()).has(sha256)) return;
      const savedAt = await store.partialSavedAt(sha256).catch(() => undefined);
      if (!options.partials && savedAt !== undefined && Date.now() - savedAt < PARTIAL_LIFETIME_MS) return;
      await store.deletePartial(sha256);
      await store.deleteFile(sha256);
    });
  }
  // Temp files whose writer was killed mid-write (the disk cache): never renamed into place, never read.
  await store.strays?.collect().catch(() => undefined);
  return freed;
}

/**
 * @file The crash-loop guard. Some devices kill the whole page while a model compiles (iOS ends a
 * WebContent process at roughly 1.5 GB; several WebGPU failures on iOS end in a crash), and a page
 * that simply loads again would crash again, for ever. So before a session is created for (version,
 * variant, backend) the cache records that a start is running, under a Web Lock held for the compile;
 * afterwards the mark is cleared. A later load that finds the mark with nobody holding the lock knows
 * that start never finished: it counts it and skips that combination this time (the next backend
 * runs, and `info.fallbacks` says why). The combination gets one more chance on a later load; after
 * a second unfinished start it is skipped for the rest of that version's life here (a new version is
 * a new combination). A start that finishes clears the count. The last backend a load could use is
 * never skipped: a load that can run nothing is worse than one more try.
 */
import { BackendSkipped } from '../backend/select.js';
import { holdShared, ifUnlocked } from '../cache/locks.js';
import { versionOf } from '../cache/records.js';
import type { CacheStore } from '../cache/store.js';

/** Unfinished starts of one combination after which it is skipped until a later version. */
const GIVE_UP_AFTER = 2;

export interface Guarded<T> {
  /** Marks the start, runs `create`, and clears the mark when it settles (a failure is not a crash). */
  run(create: () => Promise<T>): Promise<T>;
}

/**
 * Checks the combination `key` (`version|variant|backend`) of the model at `url`; throws
 * `BackendSkipped` if a previous start of it never finished (see the file comment). `last`: no later
 * backend is left for this load, so it is tried whatever happened before.
 */
export async function guardStart<T>(store: CacheStore | undefined, url: string, key: string, last: boolean): Promise<Guarded<T>> {
  if (!store) return { run: (create) => create() };
  const lock = `compile:${url}|${key}`;
  const mark = (await store.getModel(url))?.compiling?.[key];
  let unfinished = mark?.unfinished ?? 0;
  // A start marked as running whose lock nobody holds: its page or worker ended mid-compile.
  if (mark?.running && (await ifUnlocked(store, lock, async () => true))) {
    unfinished += 1;
    await setMark(store, url, key, { running: false, unfinished });
    if (!last) throw new BackendSkipped('failed', `a previous start of ${describe(key)} did not finish (the page or worker ended while it compiled): skipped this time`);
  } else if (!mark?.running && unfinished >= GIVE_UP_AFTER && !last) {
    throw new BackendSkipped('failed', `${unfinished} starts of ${describe(key)} did not finish here (the page or worker ended while it compiled): skipped until a later version`);
  }
  return {
    async run(create) {
      const release = await holdShared(store, lock);
      try {
        await setMark(store, url, key, { running: true, unfinished });
        const value = await create();
        // Awaited, not left to finish later: a worker ended right after its last model is disposed
        // would drop the write, and the next load would take the mark for an unfinished start.
        await setMark(store, url, key, undefined);
        return value;
      } catch (error) {
        await setMark(store, url, key, { running: false, unfinished }).catch(() => undefined);
        throw error;
      } finally {
        release();
      }
    },
  };
}

function describe(key: string): string {
  const [version, variant, backend] = key.split('|');
  return `${backend} (version ${version || 'unversioned'}${variant ? `, variant ${variant}` : ''})`;
}

/** Writes (or with `undefined` clears) one mark; marks of versions the record no longer keeps go too. */
async function setMark(store: CacheStore, url: string, key: string, mark: { running: boolean; unfinished: number } | undefined): Promise<void> {
  await store.updateModel(url, (record) => {
    if (!record) return record;
    const kept = Object.entries(record.compiling ?? {}).filter(([k]) => k !== key && versionOf(record, k.split('|')[0] ?? null));
    const compiling = Object.fromEntries(mark ? [...kept, [key, mark]] : kept);
    return { ...record, compiling };
  });
}

/**
 * @file The crash-loop guard. Some devices kill the whole page while a model compiles (iOS ends a
 * WebContent process at roughly 1.5 GB; several WebGPU failures on iOS end in a crash), and a page
 * that simply loads again would crash again, for ever. So before a session is created for (version,
 * variant, backend) the cache records that a start is running, under a Web Lock held for the compile;
 * afterwards the mark is cleared. A later load that finds the mark with nobody holding the lock knows
 * that start never finished: it counts it and skips that combination this time (the next backend
 * runs, and `info.fallbacks` says why). The combination gets one more chance on a later load; after
 * a second unfinished start it is skipped. A start that finishes clears the count. The last backend
 * a load could use is never skipped: a load that can run nothing is worse than one more try.
 *
 * What is not a crash: a page the user reloaded or closed mid-compile (the page notes a clean exit on
 * `pagehide`, see clean-exit.ts, and the load after it passes the time here), and a start that another
 * tab finished between our look and our lock (the mark is read again inside the lock). And a skip
 * does not last for ever: it expires with a new browser or library, or after a few days.
 */
import { BackendSkipped } from '../backend/select.js';
import { holdShared, ifUnlocked } from '../cache/locks.js';
import { versionOf, type CompileMark } from '../cache/records.js';
import type { CacheStore } from '../cache/store.js';

/** Unfinished starts of one combination after which it is skipped (until the skip expires). */
const GIVE_UP_AFTER = 2;

/** A skip lasts this long at most: a crash may have been the device's bad day (memory taken by other apps). */
export const SKIP_EXPIRES_MS = 3 * 24 * 3_600_000;

export interface Guarded<T> {
  /** Marks the start, runs `create`, and clears the mark when it settles (a failure is not a crash). */
  run(create: () => Promise<T>): Promise<T>;
}

export interface GuardContext {
  /** When the page last ended cleanly while a load of this model ran (a reload, a closed tab): see clean-exit.ts. */
  cleanExitAt?: number | undefined;
  /** This browser and library (`navigator.userAgent` and the library's version). */
  env: string;
  now?: number;
}

/**
 * Checks the combination `key` (`version|variant|backend`) of the model at `url`; throws
 * `BackendSkipped` if a previous start of it never finished (see the file comment). `last`: no later
 * backend is left for this load, so it is tried whatever happened before.
 */
export async function guardStart<T>(store: CacheStore | undefined, url: string, key: string, last: boolean, context: GuardContext): Promise<Guarded<T>> {
  if (!store) return { run: (create) => create() };
  const lock = `compile:${url}|${key}`;
  const now = context.now ?? Date.now();
  const read = async () => (await store.getModel(url))?.compiling?.[key];
  let mark = await read();
  // A skip that has expired, or counts from another browser or library: a fresh chance.
  if (mark && !mark.running && (mark.env !== context.env || now - (mark.since ?? 0) > SKIP_EXPIRES_MS)) mark = undefined;
  let unfinished = mark?.unfinished ?? 0;
  if (mark?.running) {
    // Read again inside the lock: a start another tab finished since the look above cleared its mark.
    const abandoned = await ifUnlocked(store, lock, async () => {
      const now = await read();
      return now?.running === true && now.since === mark?.since ? now : undefined;
    });
    if (abandoned) {
      const since = abandoned.since ?? 0;
      // The page went away cleanly (reload, closed tab) while that start ran: not a crash.
      const clean = context.cleanExitAt !== undefined && context.cleanExitAt >= since;
      if (!clean) unfinished += 1;
      await setMark(store, url, key, unfinished > 0 ? { running: false, unfinished, since: now, env: context.env } : undefined);
      if (!clean && !last) throw new BackendSkipped('failed', `a previous start of ${describe(key)} did not finish (the page or worker ended while it compiled): skipped this time`);
    }
  } else if (unfinished >= GIVE_UP_AFTER && !last) {
    throw new BackendSkipped('failed', `${unfinished} starts of ${describe(key)} did not finish here (the page or worker ended while it compiled): skipped for a few days, or until a new browser or library version`);
  }
  return {
    async run(create) {
      const release = await holdShared(store, lock);
      try {
        await setMark(store, url, key, { running: true, unfinished, since: Date.now(), env: context.env });
        const value = await create();
        // Awaited, not left to finish later: a worker ended right after its last model is disposed
        // would drop the write, and the next load would take the mark for an unfinished start.
        await setMark(store, url, key, undefined);
        return value;
      } catch (error) {
        await setMark(store, url, key, { running: false, unfinished, since: Date.now(), env: context.env }).catch(() => undefined);
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
async function setMark(store: CacheStore, url: string, key: string, mark: CompileMark | undefined): Promise<void> {
  await store.updateModel(url, (record) => {
    if (!record) return record;
    const kept = Object.entries(record.compiling ?? {}).filter(([k]) => k !== key && versionOf(record, k.split('|')[0] ?? null));
    const compiling = Object.fromEntries(mark ? [...kept, [key, mark]] : kept);
    return { ...record, compiling };
  });
}

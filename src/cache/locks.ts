/**
 * @file The cache's locks, shared by every context that uses one cache. A context that reads a
 * file's bytes holds `file:<sha256>` shared; one that downloads or activates it holds it exclusive;
 * garbage collection deletes a file only under an exclusive lock it got at once (`ifAvailable`).
 * A loaded model holds `model:<url>` shared for its life, so eviction can tell it is running somewhere.
 * The lock manager is the cache store's (`CacheStore.locks`): Web Locks in browsers, file locks on
 * disk in Node (src/node/file-locks.ts). Without one (insecure contexts, old browsers) each context works alone.
 */

const PREFIX = 'ondevice:';

export type LockMode = 'exclusive' | 'shared';

/** The part of the Web Locks API (`navigator.locks`) the cache uses; Node's file locks implement it too. */
export interface LockManagerLike {
  request<T>(name: string, options: { mode?: LockMode; ifAvailable?: boolean; signal?: AbortSignal }, callback: (lock: unknown) => T | Promise<T>): Promise<T>;
  query(): Promise<{ held?: ReadonlyArray<{ name?: string | undefined }> | undefined }>;
}

/** Whoever holds the locks: a cache store (or nothing, for a load with no cache). */
export interface LockHolder {
  readonly locks?: LockManagerLike | undefined;
}

/** The browser's Web Locks, where this context has them. */
export function webLocks(): LockManagerLike | undefined {
  return globalThis.navigator?.locks as LockManagerLike | undefined;
}

/** Runs `task` holding the lock `name` (across every context that shares the cache). */
export async function withLock<T>(holder: LockHolder | undefined, name: string, signal: AbortSignal | undefined, task: () => Promise<T>, mode: LockMode = 'exclusive'): Promise<T> {
  const locks = holder?.locks;
  if (!locks) return task();
  return locks.request(PREFIX + name, { mode, ...(signal && { signal }) }, task);
}

/**
 * Runs `task` holding every lock of `names` (taken in sorted order, so contexts cannot deadlock).
 * Shared locks in a browser are first asked for all at once with `ifAvailable` (a version's small
 * files are read under one lock each: one round trip to the lock manager, not one per file); asked so,
 * nothing waits, so nothing can deadlock. If any is taken, all are let go and taken in order.
 * Settles once every lock is let go.
 */
export async function withLocks<T>(holder: LockHolder | undefined, names: Iterable<string>, signal: AbortSignal | undefined, task: () => Promise<T>, mode: LockMode = 'exclusive'): Promise<T> {
  const sorted = [...new Set(names)].sort();
  const locks = holder?.locks;
  // Node's file locks wait across processes even with ifAvailable: only the browser's never wait.
  if (mode === 'shared' && sorted.length > 1 && locks && locks === webLocks()) {
    const release = await holdAllNow(locks, sorted);
    if (release) {
      try {
        return await task();
      } finally {
        await release();
      }
    }
  }
  return sorted.reduceRight<() => Promise<T>>((inner, name) => () => withLock(holder, name, signal, inner, mode), task)();
}

/**
 * Every lock of `names` held shared if each is free now (a release, which settles once all are let
 * go), else none held (`undefined`).
 */
async function holdAllNow(locks: LockManagerLike, names: readonly string[]): Promise<(() => Promise<void>) | undefined> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const requests: Array<Promise<unknown>> = [];
  const granted = await Promise.all(
    names.map(
      (name) =>
        new Promise<boolean>((answer) => {
          const request = locks.request(PREFIX + name, { mode: 'shared', ifAvailable: true }, (lock) => {
            answer(lock !== null);
            return lock === null ? undefined : released;
          });
          requests.push(request.catch(() => answer(false)));
        }),
    ),
  );
  const letGo = async () => {
    release();
    await Promise.all(requests);
  };
  if (granted.every(Boolean)) return letGo;
  await letGo();
  return undefined;
}

/**
 * Runs `task` holding `name` exclusively if no context holds it now; returns `undefined` without
 * running it otherwise. With no lock manager, runs it.
 */
export async function ifUnlocked<T>(holder: LockHolder | undefined, name: string, task: () => Promise<T>): Promise<T | undefined> {
  const locks = holder?.locks;
  if (!locks) return task();
  let ran = false;
  const result = await locks.request(PREFIX + name, { ifAvailable: true }, async (lock) => {
    if (!lock) return undefined;
    ran = true;
    return task();
  });
  return ran ? (result as T) : undefined;
}

/**
 * Holds `name` shared until the returned release is called (a loaded model's `model:<url>`).
 * Resolves once the lock is held; the release's promise settles once the lock is let go.
 */
export async function holdShared(holder: LockHolder | undefined, name: string): Promise<() => Promise<void>> {
  const locks = holder?.locks;
  if (!locks) return () => Promise.resolve();
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let done!: Promise<unknown>;
  await new Promise<void>((granted, failed) => {
    done = locks.request(PREFIX + name, { mode: 'shared' }, () => {
      granted();
      return released;
    });
    done.catch(failed);
  });
  return () => {
    release();
    return done.then(
      () => undefined,
      () => undefined,
    );
  };
}

/** Names of the library's locks held right now, by any context (without the `ondevice:` prefix). */
export async function heldLockNames(holder: LockHolder | undefined): Promise<Set<string>> {
  const locks = holder?.locks;
  if (!locks) return new Set();
  const { held = [] } = await locks.query();
  return new Set(held.map((l) => l.name ?? '').filter((n) => n.startsWith(PREFIX)).map((n) => n.slice(PREFIX.length)));
}

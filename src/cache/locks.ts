/**
 * @file Web Locks for the cache, shared by every tab and worker of the origin. A context that reads a
 * file's bytes holds `file:<sha256>` shared; one that downloads or activates it holds it exclusive;
 * garbage collection deletes a file only under an exclusive lock it got at once (`ifAvailable`).
 * A loaded model holds `model:<url>` shared for its life, so eviction can tell it is running somewhere.
 * Without Web Locks (insecure contexts, old browsers) each context works alone.
 */

const PREFIX = 'ondevice:';

export type LockMode = 'exclusive' | 'shared';

function locksApi(): LockManager | undefined {
  return globalThis.navigator?.locks;
}

/** Runs `task` holding the lock `name` (across every tab and worker of the origin). */
export async function withLock<T>(name: string, signal: AbortSignal | undefined, task: () => Promise<T>, mode: LockMode = 'exclusive'): Promise<T> {
  const locks = locksApi();
  if (!locks) return task();
  return locks.request(PREFIX + name, { mode, ...(signal && { signal }) }, task) as Promise<T>;
}

/** Runs `task` holding every lock of `names` (taken in sorted order, so contexts cannot deadlock). */
export function withLocks<T>(names: Iterable<string>, signal: AbortSignal | undefined, task: () => Promise<T>, mode: LockMode = 'exclusive'): Promise<T> {
  const sorted = [...new Set(names)].sort();
  return sorted.reduceRight<() => Promise<T>>((inner, name) => () => withLock(name, signal, inner, mode), task)();
}

/**
 * Runs `task` holding `name` exclusively if no context holds it now; returns `undefined` without
 * running it otherwise. With no Web Locks, runs it.
 */
export async function ifUnlocked<T>(name: string, task: () => Promise<T>): Promise<T | undefined> {
  const locks = locksApi();
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
 * Resolves once the lock is held.
 */
export async function holdShared(name: string): Promise<() => void> {
  const locks = locksApi();
  if (!locks) return () => undefined;
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  await new Promise<void>((granted) => {
    void locks.request(PREFIX + name, { mode: 'shared' }, () => {
      granted();
      return released;
    });
  });
  return release;
}

/** Names of the library's locks held right now, by any context (without the `ondevice:` prefix). */
export async function heldLockNames(): Promise<Set<string>> {
  const locks = locksApi();
  if (!locks) return new Set();
  const { held = [] } = await locks.query();
  return new Set(held.map((l) => l.name ?? '').filter((n) => n.startsWith(PREFIX)).map((n) => n.slice(PREFIX.length)));
}

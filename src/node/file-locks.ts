/**
 * @file The cache's locks in Node (the Web Locks shape, see cache/locks.ts), for every process that
 * shares one cache directory. Within a process, a queue per name grants locks as Web Locks do.
 * Across processes:
 * - an exclusive lock is also a lock file (proper-lockfile: `mkdir`, atomic on every file system,
 *   with its mtime refreshed while held), so that each file is downloaded and activated by one
 *   process at a time. A holder that crashed stops refreshing it, and after `staleMs` it is taken over;
 * - a shared lock leaves a holder file naming its process, so that a collection (`ifAvailable`) or a
 *   crash guard in another process sees it. Holders whose process is gone do not count.
 * A plain exclusive request does not wait for other processes' shared holders: readers read whole
 * files that are only ever renamed into place, and POSIX keeps an open file readable when it is unlinked.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { abortError } from '../errors.js';
import type { LockManagerLike, LockMode } from '../cache/locks.js';

export interface FileLocksOptions {
  /** How long a lock file may go unrefreshed before its holder counts as crashed. @default 10_000 */
  staleMs?: number;
}

interface Waiter {
  mode: LockMode;
  grant: () => void;
}

interface Local {
  shared: number;
  exclusive: boolean;
  queue: Waiter[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether process `pid` runs (on this machine). EPERM: it runs, as another user. */
export function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function fileLocks(dir: string, options: FileLocksOptions = {}): LockManagerLike {
  const staleMs = Math.max(2_000, options.staleMs ?? 10_000);
  const local = new Map<string, Local>();
  let made: Promise<unknown> | undefined;
  const ready = () => (made ??= mkdir(dir, { recursive: true }));
  const key = (name: string) => createHash('sha256').update(name).digest('hex').slice(0, 40);
  const sharedDir = (name: string) => join(dir, `${key(name)}.shared`);
  let counter = 0;

  const state = (name: string): Local => {
    let s = local.get(name);
    if (!s) local.set(name, (s = { shared: 0, exclusive: false, queue: [] }));
    return s;
  };
  const grantable = (s: Local, mode: LockMode) => !s.exclusive && (mode === 'shared' ? s.queue.every((w) => w.mode === 'shared') : s.shared === 0);
  const take = (s: Local, mode: LockMode) => (mode === 'shared' ? s.shared++ : (s.exclusive = true));
  const release = (name: string, s: Local, mode: LockMode) => {
    if (mode === 'shared') s.shared--;
    else s.exclusive = false;
    // Grant waiters in order: one exclusive, or every shared one up to the next exclusive.
    while (s.queue.length > 0) {
      const next = s.queue[0]!;
      if (s.exclusive || (next.mode === 'exclusive' && s.shared > 0)) break;
      s.queue.shift();
      take(s, next.mode);
      next.grant();
      if (next.mode === 'exclusive') break;
    }
    if (!s.exclusive && s.shared === 0 && s.queue.length === 0) local.delete(name);
  };

  /** Waits for this process's lock; `false` if `ifAvailable` and it is taken. */
  const localLock = (name: string, mode: LockMode, ifAvailable: boolean, signal: AbortSignal | undefined): Promise<boolean> => {
    const s = state(name);
    if (grantable(s, mode)) {
      take(s, mode);
      return Promise.resolve(true);
    }
    if (ifAvailable) return Promise.resolve(false);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { mode, grant: () => (signal?.removeEventListener('abort', aborted), resolve(true)) };
      const aborted = () => {
        s.queue.splice(s.queue.indexOf(waiter), 1);
        reject(abortError(signal));
      };
      signal?.addEventListener('abort', aborted, { once: true });
      s.queue.push(waiter);
    });
  };

  /** Other processes' live shared holders of `name`; the dead ones' files are removed. */
  const otherHolders = async (name: string): Promise<number> => {
    const entries = await readdir(sharedDir(name)).catch(() => [] as string[]);
    let live = 0;
    for (const entry of entries) {
      const pid = Number(entry.split('-')[0]);
      if (pid === process.pid) continue;
      if (Number.isInteger(pid) && alive(pid)) live++;
      else await rm(join(sharedDir(name), entry), { force: true });
    }
    return live;
  };

  /** The cross-process lock file; `undefined` if `once` and another process holds it. */
  const crossProcess = async (name: string, once: boolean, signal: AbortSignal | undefined): Promise<(() => Promise<void>) | undefined> => {
    await ready();
    const path = join(dir, key(name));
    for (let delay = 20; ; delay = Math.min(500, delay * 2)) {
      if (signal?.aborted) throw abortError(signal);
      try {
        return await lockfile.lock(path, {
          realpath: false,
          lockfilePath: `${path}.lock`,
          stale: staleMs,
          update: Math.floor(staleMs / 3),
          // A lock whose file was taken over (this process stalled past `staleMs`) is the work's
          // problem, not a reason to end the process (proper-lockfile's default throws).
          onCompromised: () => undefined,
        });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
        if (once) return undefined;
        await sleep(delay + Math.random() * delay);
      }
    }
  };

  const holdShared = async (name: string): Promise<() => Promise<void>> => {
    const folder = sharedDir(name);
    const file = join(folder, `${process.pid}-${counter++}-${randomBytes(4).toString('hex')}`);
    for (let attempt = 0; ; attempt++) {
      try {
        await mkdir(folder, { recursive: true });
        await writeFile(file, name);
        break;
      } catch (error) {
        // A release (here or in another process) removed the then empty folder in between, even
        // inside mkdir's own check that it exists: make it again.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 10) throw error;
      }
    }
    return async () => {
      await rm(file, { force: true });
      // The last holder takes the folder with it, so folders do not pile up (fails while others hold it).
      await rmdir(folder).catch(() => undefined);
    };
  };

  return {
    async request(name, opts, callback) {
      const mode = opts.mode ?? 'exclusive';
      const { signal, ifAvailable = false } = opts;
      if (signal?.aborted) throw abortError(signal);
      if (!(await localLock(name, mode, ifAvailable, signal))) return callback(null);
      const s = state(name);
      let unlock: (() => Promise<void>) | undefined;
      try {
        if (mode === 'shared') unlock = await holdShared(name);
        else {
          unlock = await crossProcess(name, ifAvailable, signal);
          if (ifAvailable && unlock && (await otherHolders(name)) > 0) {
            await unlock();
            unlock = undefined;
          }
          if (!unlock) {
            release(name, s, mode);
            return await callback(null);
          }
        }
      } catch (error) {
        release(name, s, mode);
        throw error;
      }
      try {
        return await callback({ name, mode });
      } finally {
        await unlock().catch(() => undefined);
        release(name, s, mode);
      }
    },
    async query() {
      const held: Array<{ name: string }> = [];
      for (const [name, s] of local) if (s.exclusive || s.shared > 0) held.push({ name });
      // Shared holders of other processes (a model that runs there holds `model:<url>`).
      for (const folder of await readdir(dir).catch(() => [] as string[])) {
        if (!folder.endsWith('.shared')) continue;
        for (const entry of await readdir(join(dir, folder)).catch(() => [] as string[])) {
          const pid = Number(entry.split('-')[0]);
          if (pid === process.pid || !alive(pid)) continue;
          const name = await readFile(join(dir, folder, entry), 'utf8').catch(() => undefined);
          if (name) held.push({ name });
        }
      }
      return { held };
    },
  };
}

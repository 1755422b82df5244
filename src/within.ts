/** @file Waiting on a platform promise that may never settle (a permission prompt nobody answers), for a bounded time. */

/**
 * Resolves with `promise`'s value, or `undefined` once `ms` have passed, whichever comes first; a
 * rejection counts as `undefined`. The timer is cleared either way, so it never keeps a process alive.
 */
export function within<T>(promise: Promise<T> | undefined, ms: number): Promise<T | undefined> {
  if (!promise) return Promise.resolve(undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, ms, undefined);
  });
  return Promise.race([promise.catch(() => undefined), timeout]).finally(() => clearTimeout(timer));
}

/**
 * @file Clean exits, for the crash-loop guard (crash-guard.ts): a page the user reloads or closes while
 * a model compiles fires `pagehide`, a crash does not. The page notes the time of such an exit in
 * localStorage (synchronous, so it lands before the page goes; IndexedDB's asynchronous write may
 * not), and the next load passes it to the guard, which then does not count that start as a crash.
 * Where localStorage or `pagehide` is missing (a worker, Node, a privacy mode), nothing is noted and
 * the guard counts as before.
 */
const key = (url: string) => `ondevice:clean-exit:${url}`;

function storage(): Storage | undefined {
  try {
    return globalThis.localStorage ?? undefined;
  } catch {
    // A sandboxed frame or a privacy setting throws on access.
    return undefined;
  }
}

/** When the page last ended cleanly while a load of `url` ran, if it did. */
export function cleanExitAt(url: string): number | undefined {
  const value = Number(storage()?.getItem(key(url)) ?? Number.NaN);
  return Number.isFinite(value) ? value : undefined;
}

/** Notes a clean exit of the page while a load of `url` runs; returns the function that stops watching. */
export function watchCleanExit(url: string): () => void {
  const target = globalThis.window;
  if (!target?.addEventListener || !storage()) return () => undefined;
  const note = () => {
    try {
      storage()?.setItem(key(url), String(Date.now()));
    } catch {
      // Full or refused storage: the guard counts as before.
    }
  };
  target.addEventListener('pagehide', note);
  return () => target.removeEventListener('pagehide', note);
}

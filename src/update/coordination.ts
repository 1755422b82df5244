/**
 * @file Many tabs, one device: Web Locks so that a file is downloaded by one context at a time, and a
 * BroadcastChannel so that every context hears of an activated update. Both are optional: without
 * them (old browsers), each context works alone.
 */

const CHANNEL = 'ondevice';

export interface ActivatedMessage {
  type: 'activated';
  url: string;
  version: string;
}

/** Runs `task` holding the lock `name` (exclusive across every tab and worker of the origin). */
export async function withLock<T>(name: string, signal: AbortSignal | undefined, task: () => Promise<T>): Promise<T> {
  const locks = globalThis.navigator?.locks;
  if (!locks) return task();
  return locks.request(`ondevice:${name}`, signal ? { signal } : {}, task) as Promise<T>;
}

/** Names of locks held right now, by any context. */
export async function heldLocks(): Promise<Set<string>> {
  const locks = globalThis.navigator?.locks;
  if (!locks) return new Set();
  const { held = [] } = await locks.query();
  return new Set(held.map((l) => l.name ?? '').filter((n) => n.startsWith('ondevice:')).map((n) => n.slice('ondevice:'.length)));
}

let channel: BroadcastChannel | undefined;

function getChannel(): BroadcastChannel | undefined {
  if (typeof BroadcastChannel === 'undefined') return undefined;
  channel ??= new BroadcastChannel(CHANNEL);
  return channel;
}

export function announceActivated(url: string, version: string): void {
  getChannel()?.postMessage({ type: 'activated', url, version } satisfies ActivatedMessage);
}

/** Calls `listener` for activations announced by other contexts; returns the unsubscribe. */
export function onActivated(listener: (message: ActivatedMessage) => void): () => void {
  const target = getChannel();
  if (!target) return () => undefined;
  const handler = (event: MessageEvent<ActivatedMessage>) => {
    if (event.data?.type === 'activated') listener(event.data);
  };
  target.addEventListener('message', handler);
  return () => target.removeEventListener('message', handler);
}

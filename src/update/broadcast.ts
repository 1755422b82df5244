/**
 * @file Many tabs, one device: a BroadcastChannel so that every context hears of an activated update
 * or a revocation another context has seen. Optional: without it (old browsers), each context works alone.
 */

const CHANNEL = 'ondevice';

export type CacheMessage = { type: 'activated'; url: string; version: string } | { type: 'revoked'; url: string; versions: string[] };

let channel: BroadcastChannel | undefined;

function getChannel(): BroadcastChannel | undefined {
  if (typeof BroadcastChannel === 'undefined') return undefined;
  if (!channel) {
    channel = new BroadcastChannel(CHANNEL);
    // Node's channel (which reaches this process's worker threads) would keep a script alive for ever.
    (channel as BroadcastChannel & { unref?: () => void }).unref?.();
  }
  return channel;
}

/** Tells the other contexts (never this one: a BroadcastChannel does not deliver to its sender). */
export function announce(message: CacheMessage): void {
  getChannel()?.postMessage(message);
}

/** Calls `listener` for what other contexts announce; returns the unsubscribe. */
export function onAnnounced(listener: (message: CacheMessage) => void): () => void {
  const target = getChannel();
  if (!target) return () => undefined;
  const handler = (event: MessageEvent<CacheMessage>) => {
    const type = event.data?.type;
    if (type === 'activated' || type === 'revoked') listener(event.data);
  };
  target.addEventListener('message', handler);
  return () => target.removeEventListener('message', handler);
}

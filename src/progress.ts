/** @file Progress emission: ordered phases, throttled download events, and a flush before the load resolves. */
import type { LoadProgress } from './types.js';

/** A listener may return a promise (a comlink call across the worker boundary does). */
export type ProgressListener = (event: LoadProgress) => unknown;

export interface ProgressEmitter {
  emit(event: LoadProgress): void;
  /** Resolves once the listener has received every event sent so far. */
  flush(): Promise<void>;
}

/** At most one `download` event per interval, except that the completing one is always sent. */
export const DOWNLOAD_EVENT_INTERVAL_MS = 50;

export function createProgressEmitter(listener: ProgressListener | undefined, now: () => number = () => performance.now()): ProgressEmitter {
  let lastDownloadAt = Number.NEGATIVE_INFINITY;
  let lastDelivery: unknown;
  const deliver = (event: LoadProgress): void => {
    try {
      lastDelivery = listener?.(event);
    } catch {
      // A throwing listener is the app's bug; it must not break the load.
    }
    if (lastDelivery instanceof Promise) lastDelivery.catch(() => undefined);
  };
  return {
    emit(event) {
      if (event.phase === 'download') {
        const complete = event.total !== null && event.loaded >= event.total;
        const t = now();
        if (!complete && t - lastDownloadAt < DOWNLOAD_EVENT_INTERVAL_MS) return;
        lastDownloadAt = t;
      }
      deliver(event);
    },
    async flush() {
      // Calls through one MessagePort are answered in order, so the last answer covers all events.
      await Promise.resolve(lastDelivery).catch(() => undefined);
    },
  };
}

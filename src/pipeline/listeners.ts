/**
 * @file What each loaded model hears about its URL: a version activated (here or in another tab or
 * worker, and only one its own `version` range accepts), a version revoked (its own, once), and how
 * its update checks went. One table per host; events cross to the page as plain data.
 */
import { versionOf } from '../cache/records.js';
import type { CacheStore } from '../cache/store.js';
import { errorToWire, type OndeviceError, type WireError } from '../errors.js';
import { parseRange, satisfies } from '../manifest/semver.js';
import { onAnnounced } from '../update/broadcast.js';
import type { UpdateInfo } from '../types.js';

/** What a model's listener receives. */
export type ModelEvent = { type: 'update'; update: UpdateInfo } | { type: 'checked'; error: WireError | null };

export type ModelEventListener = (event: ModelEvent) => unknown;

export interface Listening {
  url: string;
  /** The version the model runs now. */
  running: () => string | null;
  /** The app's accepted range, if any. */
  range: string | undefined;
  listener: ModelEventListener | undefined;
}

export interface Listeners {
  add(id: number, model: Listening): void;
  delete(id: number): void;
  /** A version of `url` was activated (by this context or another). */
  activated(url: string, version: string): void;
  /** Versions of `url` were revoked; `store` tells which version the cache holds now. */
  revoked(url: string, versions: readonly string[]): Promise<void>;
  /** An update check of model `id` ended (`error` null: it succeeded). */
  checked(id: number, error: OndeviceError | null): void;
}

function deliver(model: Listening, event: ModelEvent): void {
  try {
    void Promise.resolve(model.listener?.(event)).catch(() => undefined);
  } catch {
    // The app's listener threw: its bug, not the host's.
  }
}

export function createListeners(store: () => CacheStore | undefined): Listeners {
  const models = new Map<number, Listening & { told: Set<string> }>();
  /** Each model hears of each activation and revocation once, whichever way it arrives. */
  const tell = (model: Listening & { told: Set<string> }, key: string, update: UpdateInfo) => {
    if (model.told.has(key)) return;
    model.told.add(key);
    deliver(model, { type: 'update', update });
  };
  const accepts = (model: Listening, version: string) => {
    if (model.range === undefined) return true;
    try {
      return satisfies(version, parseRange(model.range));
    } catch {
      return false;
    }
  };
  const listeners: Listeners = {
    add: (id, model) => void models.set(id, { ...model, told: new Set() }),
    delete: (id) => void models.delete(id),
    activated(url, version) {
      for (const model of models.values()) {
        if (model.url !== url || model.running() === version || !accepts(model, version)) continue;
        tell(model, `activated:${version}`, { version, previousVersion: model.running(), revoked: false });
      }
    },
    async revoked(url, versions) {
      const hit = [...models.values()].filter((m) => m.url === url && versions.includes(m.running() ?? ''));
      if (hit.length === 0) return;
      const record = await store()?.getModel(url).catch(() => undefined);
      for (const model of hit) {
        const running = model.running();
        // The version to move to, if the cache has one this model may run; else the revoked one.
        const active = record?.active ?? null;
        const next = active !== null && versionOf(record, active) && !versions.includes(active) && accepts(model, active) ? active : running;
        // One event says both: the running version is revoked, and which version to reload to.
        if (next !== running) model.told.add(`activated:${next}`);
        tell(model, `revoked:${running}`, { version: next ?? '', previousVersion: running, revoked: true });
      }
    },
    checked(id, error) {
      const model = models.get(id);
      if (model) deliver(model, { type: 'checked', error: error && errorToWire(error) });
    },
  };
  // What other tabs and workers announce.
  onAnnounced((message) => {
    if (message.type === 'activated') listeners.activated(message.url, message.version);
    else void listeners.revoked(message.url, message.versions);
  });
  return listeners;
}

/** @file `worker: false`: the same model host, called in the caller's thread. */
import type { HostConnection } from './pipeline/connection.js';
import { createModelHost, type ModelHost } from './pipeline/host.js';
import { allRuntimes } from './runtime/all.js';

let host: ModelHost | undefined;

export function inThreadConnection(): HostConnection {
  host ??= createModelHost({ runtimes: allRuntimes });
  const h = host;
  return {
    load: (request, controls) => h.load(request, controls),
    run: (id, inputs) => h.run(id, inputs),
    checkForUpdate: (id) => h.checkForUpdate(id),
    reload: (id) => h.reload(id),
    stats: (id) => h.stats(id),
    dispose: (id) => h.dispose(id),
    release: () => undefined,
  };
}

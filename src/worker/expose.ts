/** @file Serves a model host over comlink from inside a worker. */
import { expose, releaseProxy, transfer } from 'comlink';
import { createModelHost, type ModelHost } from '../pipeline/host.js';
import type { WorkerApi } from './api.js';
import { installErrorTransfer } from './error-transfer.js';
import { forTransfer } from './tensors.js';

export function serveModelHost(scope: Worker | typeof globalThis = globalThis, host: ModelHost = createModelHost()): void {
  installErrorTransfer();
  const loads = new Map<string, AbortController>();
  const api: WorkerApi = {
    hello: (lockName) =>
      new Promise<void>((resolve) => {
        const locks = globalThis.navigator?.locks;
        if (!locks) return resolve();
        // Held until this worker ends; the page waits on the same name to learn of it.
        void locks.request(lockName, () => {
          resolve();
          return new Promise<never>(() => {});
        });
      }),
    async load(request, loadId, onProgress) {
      const controller = new AbortController();
      loads.set(loadId, controller);
      try {
        return await host.load(request, { signal: controller.signal, onProgress });
      } finally {
        loads.delete(loadId);
        (onProgress as { [releaseProxy]?: () => void } | undefined)?.[releaseProxy]?.();
      }
    },
    abort(loadId) {
      loads.get(loadId)?.abort();
    },
    async run(id, inputs) {
      const outputs = await host.run(id, inputs);
      const [tensors, buffers] = forTransfer(outputs);
      return transfer(tensors, buffers);
    },
    dispose: (id) => host.dispose(id),
  };
  expose(api, scope as Worker);
}

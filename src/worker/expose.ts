/** @file Serves a model host over comlink from inside a worker. */
import { expose, releaseProxy, transfer } from 'comlink';
import type { ModelHost } from '../pipeline/host.js';
import type { WorkerApi } from './api.js';
import { installErrorTransfer } from './error-transfer.js';
import { forTransfer } from './tensors.js';
import type { Tensor } from '../types.js';

export function serveModelHost(scope: Worker | typeof globalThis, host: ModelHost): void {
  installErrorTransfer();
  /** Loads and generate() calls in flight, by the id the page names them with, to abort them. */
  const calls = new Map<string, AbortController>();
  const eventListeners = new Map<number, { [releaseProxy]?: () => void }>();
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
    async load(request, loadId, onProgress, onEvent) {
      const controller = new AbortController();
      calls.set(loadId, controller);
      const releaseListener = () => (onEvent as { [releaseProxy]?: () => void } | undefined)?.[releaseProxy]?.();
      try {
        const result = await host.load(request, { signal: controller.signal, onProgress, onEvent });
        if (result.kind === 'loaded' && onEvent) eventListeners.set(result.id, onEvent as { [releaseProxy]?: () => void });
        else releaseListener();
        return result;
      } catch (error) {
        releaseListener();
        throw error;
      } finally {
        calls.delete(loadId);
        (onProgress as { [releaseProxy]?: () => void } | undefined)?.[releaseProxy]?.();
      }
    },
    abort(callId) {
      calls.get(callId)?.abort();
    },
    async generate(id, inputs, options, callId, onToken) {
      const controller = new AbortController();
      calls.set(callId, controller);
      try {
        // The page's listener is called, not awaited: the next step does not wait for a round trip.
        // Its calls travel on a port of their own, so the answer waits for them: a page never sees
        // the call end before it has been told every token.
        // (They are answered in order, so the last one's answer covers them all.)
        let last: Promise<unknown> = Promise.resolve();
        const tell = onToken && ((token: number, index: number) => void (last = Promise.resolve(onToken(token, index)).catch(() => undefined)));
        try {
          return await host.generate(id, inputs, options, { onToken: tell, signal: controller.signal });
        } finally {
          await last;
        }
      } finally {
        calls.delete(callId);
        (onToken as { [releaseProxy]?: () => void } | undefined)?.[releaseProxy]?.();
      }
    },
    async run(id, inputs, options) {
      const outputs = await host.run(id, inputs, options);
      const [tensors, buffers] = forTransfer(outputs);
      return transfer(tensors, buffers);
    },
    async read(id, ref) {
      const [tensors, buffers] = forTransfer({ t: await host.read(id, ref) });
      return transfer(tensors['t'] as Tensor, buffers);
    },
    release: (id, refs) => host.release(id, refs),
    async asset(id, name) {
      const bytes = await host.asset(id, name);
      return transfer(bytes, [bytes.buffer as ArrayBuffer]);
    },
    drain: () => host.idle(),
    hold: (ms) => host.hold(ms),
    checkForUpdate: (id) => host.checkForUpdate(id),
    reload: (id) => host.reload(id),
    stats: (id) => host.stats(id),
    async dispose(id) {
      await host.dispose(id);
      eventListeners.get(id)?.[releaseProxy]?.();
      eventListeners.delete(id);
    },
  };
  expose(api, scope as Worker);
}

/**
 * @file TF.js's engine, shared by every TF.js model in this context: the runtime and each backend are
 * loaded with dynamic `import()` only when first asked for, and one queue serialises the moments that
 * need a given backend active (TF.js has one global active backend; a model's weights live on the
 * backend that was active when they were made, and running it elsewhere would copy them over).
 */
import type * as Tf from '@tensorflow/tfjs-core';
import type * as TfWasm from '@tensorflow/tfjs-backend-wasm';
import { BackendSkipped } from '../../backend/select.js';
import type { Backend } from '../../types.js';
import { wasmFiles } from './wasm-files.js';

export type TfCore = typeof Tf;

let core: Promise<TfCore> | undefined;
const registered = new Map<Backend, Promise<void>>();
let queue: Promise<unknown> = Promise.resolve();

function once<T>(load: () => Promise<T>, forget: () => void): Promise<T> {
  return load().catch((error: unknown) => {
    forget();
    throw error;
  });
}

export function tfCore(): Promise<TfCore> {
  core ??= once(() => import('@tensorflow/tfjs-core'), () => (core = undefined));
  return core;
}

/** Each backend package registers itself with tfjs-core when imported. */
async function importBackend(backend: Backend): Promise<void> {
  switch (backend) {
    case 'webgpu':
      await import('@tensorflow/tfjs-backend-webgpu');
      return;
    case 'webgl':
      await import('@tensorflow/tfjs-backend-webgl');
      return;
    case 'wasm': {
      // The flat ESM build: the package's `module` entry imports emscripten's CommonJS glue, which an
      // app's dev server may serve unconverted inside a worker ("module is not defined").
      const wasm: typeof TfWasm = await import('@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.fesm.js');
      // The .wasm files come from the app's own origin (bundlers emit them, see wasm-files.ts), never a CDN.
      wasm.setWasmPaths(wasmFiles());
      return;
    }
    case 'cpu':
      await import('@tensorflow/tfjs-backend-cpu');
      return;
  }
}

function register(backend: Backend): Promise<void> {
  let loading = registered.get(backend);
  if (!loading) {
    loading = once(() => importBackend(backend), () => registered.delete(backend));
    registered.set(backend, loading);
  }
  return loading;
}

/**
 * Runs `task` with `backend` active, after every earlier task has finished. Loading or initialising the
 * backend failing is `BackendSkipped` (the walk goes on to the next backend); `task`'s errors pass through.
 */
export function withBackend<T>(backend: Backend, task: (tf: TfCore) => T | Promise<T>, threads = 0): Promise<T> {
  const run = queue.then(async () => {
    let tf: TfCore;
    try {
      tf = await tfCore();
      await register(backend);
    } catch (error) {
      throw new BackendSkipped('unavailable', `loading TF.js's ${backend} backend failed: ${message(error)}`);
    }
    if (tf.getBackend() !== backend) {
      // One thread asked for: keep TF.js from its threaded build (it picks that itself where
      // SharedArrayBuffer exists). Read once, when the backend first starts in this context.
      if (backend === 'wasm' && threads === 1) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      let ready: boolean;
      try {
        ready = await tf.setBackend(backend);
      } catch (error) {
        throw new BackendSkipped('unavailable', `TF.js's ${backend} backend did not start: ${message(error)}`);
      }
      if (!ready) throw new BackendSkipped('unavailable', `TF.js's ${backend} backend did not start here`);
    }
    return task(tf);
  });
  queue = run.catch(() => undefined);
  return run;
}

export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

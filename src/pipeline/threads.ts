/**
 * @file A first threaded WASM start that never ends. Firefox has been seen to hang starting
 * multi-threaded WebAssembly (onnxruntime-web's session creation, TF.js's `setBackend('wasm')`)
 * in about 1 of 25 starts with 2 threads; nothing in that context can use the runtime after it.
 * So the first threaded start of a context is bounded; past the bound it is `BACKEND_UNAVAILABLE`
 * with `details.threadsStalled`, and the page (load-model.ts) replaces the library's worker and
 * loads again on one thread. Once a threaded start has finished here, later ones are not bounded.
 */
import { OndeviceError } from '../errors.js';
import type { Backend } from '../types.js';

/** The bound's base, plus `MS_PER_MB` for each MB of the model: a stall is for ever, a slow compile is not. */
export const THREADED_START_MS = 20_000;
const MS_PER_MB = 20;

export interface Threading {
  /** WASM threads for this load (1: one thread). */
  threads: number;
  /** The bound's base, in ms. */
  startMs: number;
}

let proven = false;

/** Whether `backend` of `runtime` runs on the WASM module that threads apply to (ONNX's WebGPU build runs on it too). */
export function runsOnWasm(runtime: string, backend: Backend): boolean {
  return backend === 'wasm' || (runtime === 'onnx' && backend === 'webgpu');
}

/** Runs `start` bounded as the file comment says; a start that ends after the bound is released. */
export async function boundedStart<T extends { release(): Promise<void> }>(start: () => Promise<T>, threading: Threading, bytes: number, backend: Backend): Promise<T> {
  if (proven) return start();
  const ms = threading.startMs + Math.ceil(bytes / 1e6) * MS_PER_MB;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stalled = false;
  const started = start();
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      stalled = true;
      reject(
        new OndeviceError('BACKEND_UNAVAILABLE', `Starting ${backend} with ${threading.threads} WASM threads did not finish in ${Math.round(ms / 1000)} s (a known stall of threaded WebAssembly start-up). The library's worker restarts on one thread by itself; with worker: false or your own Worker, reload the page.`, {
          details: { threadsStalled: true, backend, threads: threading.threads },
        }),
      );
    }, ms);
  });
  try {
    const value = await Promise.race([started, timeout]);
    proven = true;
    return value;
  } finally {
    clearTimeout(timer);
    // Nobody waits for a start that ended after the bound: free what it made.
    if (stalled) void started.then((value) => value.release(), () => undefined);
  }
}

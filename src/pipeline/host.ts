/**
 * @file The model host: loads models (source → runtime session on the first backend that works),
 * runs and disposes them by id. The worker exposes one of these; `worker: false` calls one directly.
 */
import { abortError, disposedError, throwIfAborted } from '../errors.js';
import { firstWorkingBackend } from '../backend/select.js';
import type { Fetch } from '../download/fetch-file.js';
import { onnxRuntime } from '../runtime/onnx.js';
import type { RuntimeAdapter, RuntimeSession } from '../runtime/types.js';
import type { Backend, ModelInfo, TensorMap } from '../types.js';
import { createProgressEmitter, type ProgressListener } from './progress.js';
import { fetchModelSource } from './source.js';

/** A load as it crosses the worker boundary: plain data only. */
export interface LoadRequest {
  /** Absolute URL of a manifest or a model file. */
  url: string;
  /** Backends to try, in order (already normalised). */
  backends: Backend[];
}

export interface LoadResult {
  id: number;
  info: ModelInfo;
}

export interface LoadControls {
  signal?: AbortSignal | undefined;
  onProgress?: ProgressListener | undefined;
}

export interface ModelHost {
  load(request: LoadRequest, controls?: LoadControls): Promise<LoadResult>;
  run(id: number, inputs: TensorMap): Promise<TensorMap>;
  dispose(id: number): Promise<void>;
  /** How many models are loaded. */
  readonly size: number;
}

export interface ModelHostOptions {
  /** @default globalThis.fetch */
  fetch?: Fetch;
  /** @default the onnxruntime-web adapter */
  runtime?: RuntimeAdapter;
}

export function createModelHost(options: ModelHostOptions = {}): ModelHost {
  const sessions = new Map<number, { session: RuntimeSession; info: ModelInfo }>();
  let nextId = 1;

  async function load(request: LoadRequest, controls: LoadControls = {}): Promise<LoadResult> {
    const { signal } = controls;
    throwIfAborted(signal);
    const progress = createProgressEmitter(controls.onProgress);
    const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
    const source = await fetchModelSource(request.url, { fetch: fetchFn, signal, progress });
    throwIfAborted(signal);

    const runtime = options.runtime ?? onnxRuntime;
    const selected = await firstWorkingBackend(
      request.backends,
      (backend) => {
        progress.emit({ phase: 'compile', backend });
        return runtime.create(source.files, backend);
      },
      signal,
    );
    const { value: session, backend, fallbacks } = selected;
    if (signal?.aborted) {
      // Session creation cannot be interrupted inside the runtime; drop the result instead.
      await session.release().catch(() => undefined);
      throw abortError(signal);
    }
    const info: ModelInfo = {
      name: source.name,
      version: source.version,
      variant: source.variant,
      runtime: 'onnx',
      backend,
      fallbacks,
      fromCache: false,
      // The model file is the truth about its inputs; the manifest only describes them.
      inputs: session.inputs,
      outputs: session.outputs,
      metadata: source.manifest?.metadata ?? {},
      url: source.url,
    };
    const id = nextId++;
    sessions.set(id, { session, info });
    progress.emit({ phase: 'ready', backend });
    await progress.flush();
    return { id, info };
  }

  async function run(id: number, inputs: TensorMap): Promise<TensorMap> {
    const entry = sessions.get(id);
    if (!entry) throw disposedError();
    // Inputs were validated by the caller's Model before they left its thread (see load-model.ts).
    return entry.session.run(inputs);
  }

  async function dispose(id: number): Promise<void> {
    const entry = sessions.get(id);
    if (!entry) return;
    sessions.delete(id);
    await entry.session.release();
  }

  return {
    load,
    run,
    dispose,
    get size() {
      return sessions.size;
    },
  };
}

/** @file `loadModel`: options → a host (worker or this thread) → load → a `Model` that runs and disposes. */
import type { HostConnection } from './connection.js';
import { backendOrder } from './backend/select.js';
import type { Handoff, LoadControls, LoadRequest, LoadResult } from './pipeline/host.js';
import type { RuntimeName } from './manifest/types.js';
import { familyHint, rememberFamily } from './runtime/family-hint.js';
import { familyOf, type RuntimeFamily } from './runtime/runtimes.js';
import { parseRange } from './update/semver.js';
import { OndeviceError, disposedError, isOndeviceError, throwIfAborted } from './errors.js';
import { validateInputs } from './tensor/validate.js';
import type { LoadOptions, Model, ModelInfo, TensorMap, UpdateCheckResult } from './types.js';
import { workerConnection } from './worker/client.js';

/**
 * Loads a model from a manifest URL (`ondevice/1`, ONNX or TF.js) or a bare `.onnx` URL and returns it ready to run.
 *
 * @example
 * const model = await loadModel('/models/digits/manifest.json', { onProgress: console.log });
 * const { logits } = await model.run({ image: { type: 'float32', data, dims: [1, 1, 8, 8] } });
 */
export async function loadModel(url: string | URL, options: LoadOptions = {}): Promise<Model> {
  const request: LoadRequest = {
    url: absoluteUrl(url),
    backends: backendOrder(options.backend),
    update: updatePolicy(options.update),
    variant: options.variant ?? 'auto',
    version: options.version,
    maxCacheBytes: options.maxCacheBytes,
    retry: options.retry,
  };
  // Fails early on a malformed range, before any request.
  if (request.version !== undefined) parseRange(request.version);
  throwIfAborted(options.signal);
  // StorageManager.persist() exists only in windows, not in workers: ask from here.
  if (options.persist) await globalThis.navigator?.storage?.persist?.().catch(() => false);
  const controls = { signal: options.signal, onProgress: options.onProgress, onUpdate: options.onUpdate };
  const opened = await open(request, options.worker, controls);
  // reload() to a version of another runtime opens it anew, from the cache, in that runtime's worker.
  const reopen = () => open({ ...request, update: 'never' }, options.worker, { onUpdate: options.onUpdate });
  return new OndeviceModel(opened, reopen);
}

interface Opened {
  connection: HostConnection;
  result: LoadResult;
}

/** Loads in the worker the model's runtime lives in; a first load learns which from the host's manifest. */
async function open(request: LoadRequest, worker: LoadOptions['worker'], controls: LoadControls): Promise<Opened> {
  let connection = await connect(worker, () => familyHint(request.url));
  let result: LoadResult;
  try {
    result = await connection.load(request, controls);
  } catch (error) {
    connection.release();
    const elsewhere = runtimeElsewhere(error);
    if (!elsewhere) throw error;
    // The model's runtime lives in the library's other worker: load it there, with the manifest in hand.
    connection = await connect(worker, () => familyOf(elsewhere.runtime));
    try {
      result = await connection.load({ ...request, handoff: elsewhere.handoff }, controls);
    } catch (again) {
      connection.release();
      throw again;
    }
  }
  rememberFamily(request.url, result.info.runtime);
  return { connection, result };
}

function runtimeElsewhere(error: unknown): { runtime: RuntimeName; handoff: Handoff | undefined } | undefined {
  if (!isOndeviceError(error, 'BACKEND_UNAVAILABLE') || error.details['elsewhere'] !== true) return undefined;
  return { runtime: error.details['runtime'] as RuntimeName, handoff: error.details['handoff'] as Handoff | undefined };
}

async function connect(worker: LoadOptions['worker'], family: () => RuntimeFamily | 'resolve' | Promise<RuntimeFamily | 'resolve'>): Promise<HostConnection> {
  if (worker === false || (worker === undefined && typeof Worker === 'undefined')) {
    // Only in-thread users pay for the pipeline on their own thread.
    const { inThreadConnection } = await import('./in-thread.js');
    return inThreadConnection();
  }
  if (worker instanceof Worker) return workerConnection(worker, 'resolve');
  return workerConnection(undefined, await family());
}

function updatePolicy(value: LoadOptions['update']): LoadRequest['update'] {
  if (value === undefined) return 'background';
  if (value === 'background' || value === 'blocking' || value === 'never') return value;
  throw new OndeviceError('INPUT_INVALID', `Option "update" must be 'background', 'blocking' or 'never'; got ${JSON.stringify(value)}.`, {
    details: { input: 'update', actual: value },
  });
}

function absoluteUrl(url: string | URL): string {
  const base = globalThis.location?.href;
  return new URL(url, base).href;
}

class OndeviceModel implements Model {
  #info: ModelInfo;
  #connection: HostConnection;
  #id: number;
  #reopen: () => Promise<Opened>;
  #disposed = false;

  constructor({ connection, result }: Opened, reopen: () => Promise<Opened>) {
    this.#connection = connection;
    this.#id = result.id;
    this.#info = result.info;
    this.#reopen = reopen;
  }

  get info(): ModelInfo {
    return this.#info;
  }

  async checkForUpdate(): Promise<UpdateCheckResult> {
    if (this.#disposed) throw disposedError();
    return this.#connection.checkForUpdate(this.#id);
  }

  async reload(): Promise<void> {
    if (this.#disposed) throw disposedError();
    try {
      this.#info = await this.#connection.reload(this.#id);
    } catch (error) {
      if (!runtimeElsewhere(error)) throw error;
      // The new version runs on the other runtime (a release that moved from TF.js to ONNX, say).
      const { connection, result } = await this.#reopen();
      const [old, oldId] = [this.#connection, this.#id];
      [this.#connection, this.#id, this.#info] = [connection, result.id, result.info];
      await old.dispose(oldId).catch(() => undefined);
      old.release();
    }
  }

  async run(inputs: TensorMap): Promise<TensorMap> {
    if (this.#disposed) throw disposedError();
    // Checked here, before the inputs' buffers are transferred away, so a bad call loses nothing.
    validateInputs(inputs, this.info.inputs);
    return this.#connection.run(this.#id, inputs);
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    try {
      await this.#connection.dispose(this.#id);
    } finally {
      this.#connection.release();
    }
  }
}

/** @file `loadModel`: options → a host (worker or this thread) → load → a `Model` that runs and disposes. */
import type { HostConnection } from './pipeline/connection.js';
import { backendOrder } from './backend/select.js';
import { OndeviceError, disposedError, errorFromWire, isOndeviceError, parseUrl, throwIfAborted, toOndeviceError } from './errors.js';
import { parseRange } from './manifest/semver.js';
import type { RuntimeName } from './manifest/types.js';
import type { LoadControls, LoadRequest, ModelEvent } from './pipeline/host.js';
import { familyOf, type RuntimeFamily } from './runtime/runtimes.js';
import { byInputName, validateInputs } from './tensor/validate.js';
import type { LoadOptions, Model, ModelInfo, ModelStats, TensorMap, UpdateCheckResult, UpdateInfo } from './types.js';
import { markThreadsStalled, threadsStalled, workerConnection } from './worker/client.js';
import { familyHint, rememberFamily } from './worker/family-hint.js';
import { within } from './within.js';
import { onnxOptions, storagePreference, updatePolicy } from './load-options.js';
import { runsOnWasm } from './pipeline/threads.js';
import { publicKeys } from './manifest/signature.js';

/** How long a load waits for `persist()` to settle; a browser that grants it at once does so in milliseconds. */
const PERSIST_WAIT_MS = 1_000;

/**
 * Loads a model from a manifest URL (`ondevice/1`, ONNX or TF.js) or a bare `.onnx` URL and returns it ready to run.
 *
 * @example
 * const model = await loadModel('/models/digits/manifest.json', { onProgress: console.log });
 * const { logits } = await model.run({ image: { type: 'float32', data, dims: [1, 1, 8, 8] } });
 */
export async function loadModel(url: string | URL, options: LoadOptions = {}): Promise<Model> {
  try {
    return await load(url, options);
  } catch (error) {
    throw toOndeviceError(error);
  }
}

async function load(url: string | URL, options: LoadOptions): Promise<Model> {
  const request: LoadRequest = {
    url: parseUrl(url).href,
    backends: backendOrder(options.backend),
    update: updatePolicy(options.update),
    variant: options.variant ?? 'auto',
    version: options.version,
    maxCacheBytes: options.maxCacheBytes,
    retry: options.retry,
    publicKeys: options.publicKey === undefined ? undefined : publicKeys(options.publicKey),
    storage: storagePreference(options.storage),
    onnx: onnxOptions(options.onnx),
  };
  // A signed load never skips its check: without WebCrypto it cannot be made.
  if (request.publicKeys && !globalThis.crypto?.subtle) {
    throw new OndeviceError('INSECURE_CONTEXT', 'Option "publicKey" needs WebCrypto to check signatures, and this page has none: it is not a secure context. Serve the app over https (or from localhost).', { details: {} });
  }
  // Fails early on a malformed range, before any request.
  if (request.version !== undefined) parseRange(request.version);
  throwIfAborted(options.signal);
  // StorageManager.persist() exists only in windows, not in workers: ask from here. It may show a
  // permission prompt (Firefox) that is never answered, so wait a moment for a quick grant, never longer.
  if (options.persist) await within(globalThis.navigator?.storage?.persist?.(), PERSIST_WAIT_MS);
  // The model's events come for its whole life, the first ones possibly before the Model exists here.
  let model: OndeviceModel | undefined;
  const early: ModelEvent[] = [];
  const onEvent = (event: ModelEvent) => (model ? model.handle(event) : early.push(event));
  const controls: LoadControls = { signal: options.signal, onProgress: options.onProgress, onEvent };
  const opened = await open(request, options.worker, controls);
  // reload() to a version of another runtime opens it anew, from the cache, in that runtime's worker.
  const reopen = () => open({ ...request, update: 'never' }, options.worker, { onEvent });
  model = new OndeviceModel(opened, reopen, options.onUpdate, options.onStats);
  for (const event of early.splice(0)) model.handle(event);
  return model;
}

interface Opened {
  connection: HostConnection;
  id: number;
  info: ModelInfo;
  updateError: OndeviceError | null;
}

/**
 * Opens the model; if a threaded WASM start stalls in the library's own worker, that worker is
 * replaced and the load runs again on one thread, which `info.fallbacks` reports.
 */
async function open(request: LoadRequest, worker: LoadOptions['worker'], controls: LoadControls): Promise<Opened> {
  const ownWorker = worker === true || (worker === undefined && typeof Worker !== 'undefined');
  let opened: Opened;
  try {
    opened = await openIn(threadsStalled() ? { ...request, threads: 1 } : request, worker, controls);
  } catch (error) {
    if (!ownWorker || !isOndeviceError(error, 'BACKEND_UNAVAILABLE') || error.details['threadsStalled'] !== true) throw error;
    markThreadsStalled();
    opened = await openIn({ ...request, threads: 1 }, worker, controls);
  }
  const { info } = opened;
  if (threadsStalled() && runsOnWasm(info.runtime, info.backend)) {
    opened.info = { ...info, fallbacks: [...info.fallbacks, { backend: info.backend, reason: 'WASM threads stalled at start-up on this page: running on one thread' }] };
  }
  return opened;
}

/** Loads in the worker the model's runtime lives in; a first load learns which from the host's manifest. */
async function openIn(request: LoadRequest, worker: LoadOptions['worker'], controls: LoadControls): Promise<Opened> {
  let connection = await connect(worker, () => familyHint(request.url));
  let result = await loadOn(connection, request, controls);
  if (result.kind === 'moved') {
    // The model's runtime lives in the library's other worker: load it there, with the manifest in hand.
    const { runtime, handoff } = result;
    if (worker instanceof Worker) throw wrongWorker(runtime);
    connection = await connect(worker, () => familyOf(runtime));
    result = await loadOn(connection, { ...request, handoff }, controls);
    if (result.kind === 'moved') throw wrongWorker(result.runtime);
  }
  rememberFamily(request.url, result.info.runtime);
  return { connection, id: result.id, info: result.info, updateError: result.updateError && toOndeviceError(errorFromWire(result.updateError)) };
}

async function loadOn(connection: HostConnection, request: LoadRequest, controls: LoadControls) {
  try {
    const result = await connection.load(request, controls);
    if (result.kind === 'moved') connection.release();
    return result;
  } catch (error) {
    connection.release();
    // Its runtime is stuck starting: nothing more can run in that worker.
    if (isOndeviceError(error, 'BACKEND_UNAVAILABLE') && error.details['threadsStalled'] === true) connection.abandon?.('a threaded WebAssembly start stalled in it');
    throw error;
  }
}

function wrongWorker(runtime: RuntimeName): OndeviceError {
  return new OndeviceError('BACKEND_UNAVAILABLE', `The Worker passed as option "worker" does not run "${runtime}" models: import 'ondevice/worker' (every runtime) or 'ondevice/worker/${familyOf(runtime)}' in it.`, {
    details: { runtime },
  });
}

async function connect(worker: LoadOptions['worker'], family: () => RuntimeFamily | 'resolve' | Promise<RuntimeFamily | 'resolve'>): Promise<HostConnection> {
  if (worker === false || (worker === undefined && typeof Worker === 'undefined')) {
    // Only in-thread users pay for the pipeline on their own thread.
    const { inThreadConnection } = await import('./in-thread.js');
    return inThreadConnection();
  }
  if (typeof Worker !== 'undefined' && worker instanceof Worker) return workerConnection(worker, 'resolve');
  return workerConnection(undefined, await family());
}


class OndeviceModel implements Model {
  #info: ModelInfo;
  #connection: HostConnection;
  #id: number;
  #reopen: () => Promise<Opened>;
  #onUpdate: LoadOptions['onUpdate'];
  #disposed = false;
  #lastUpdateError: OndeviceError | null;
  /** Runs rejected here, before the inputs left this thread (`INPUT_INVALID`), by code. */
  #rejectedHere = new Map<string, number>();
  #onStats: LoadOptions['onStats'];
  #statsDue = { runs: 0, at: performance.now() };

  constructor(opened: Opened, reopen: () => Promise<Opened>, onUpdate: LoadOptions['onUpdate'], onStats: LoadOptions['onStats']) {
    this.#connection = opened.connection;
    this.#id = opened.id;
    this.#info = opened.info;
    this.#lastUpdateError = opened.updateError;
    this.#reopen = reopen;
    this.#onUpdate = onUpdate;
    this.#onStats = onStats;
  }

  get info(): ModelInfo {
    return this.#info;
  }

  get lastUpdateError(): OndeviceError | null {
    return this.#lastUpdateError;
  }

  /** An event from the host: an update to tell the app of, or how an update check went. */
  handle(event: ModelEvent): void {
    if (this.#disposed) return;
    if (event.type === 'checked') {
      const error = event.error && toOndeviceError(errorFromWire(event.error));
      this.#lastUpdateError = error;
      // A host that cannot be trusted, or has gone stale, is news for the app; being offline is not.
      if (error && (error.code === 'SIGNATURE_INVALID' || error.code === 'MANIFEST_EXPIRED') && this.#info.version !== null) {
        const running = this.#info.version;
        this.#notify({ version: running, previousVersion: running, revoked: false, error });
      }
      return;
    }
    this.#notify(event.update);
  }

  #notify(update: UpdateInfo): void {
    try {
      this.#onUpdate?.(update);
    } catch {
      // The app's listener threw: its bug, not the library's.
    }
  }

  async checkForUpdate(): Promise<UpdateCheckResult> {
    if (this.#disposed) throw disposedError();
    return this.#connection.checkForUpdate(this.#id);
  }

  async reload(): Promise<void> {
    if (this.#disposed) throw disposedError();
    const result = await this.#connection.reload(this.#id);
    if (result.kind === 'loaded') {
      if (result.info.version !== this.#info.version) this.#rejectedHere.clear();
      this.#info = result.info;
      return;
    }
    this.#rejectedHere.clear();
    // The new version runs on the other runtime (a release that moved from TF.js to ONNX, say).
    const opened = await this.#reopen();
    if (this.#disposed) {
      await opened.connection.dispose(opened.id).catch(() => undefined);
      opened.connection.release();
      throw disposedError();
    }
    const [old, oldId] = [this.#connection, this.#id];
    [this.#connection, this.#id, this.#info] = [opened.connection, opened.id, opened.info];
    await old.dispose(oldId).catch(() => undefined);
    old.release();
  }

  async run(inputs: TensorMap): Promise<TensorMap> {
    if (this.#disposed) throw disposedError();
    try {
      // Checked here, before the inputs' buffers are transferred away, so a bad call loses nothing.
      validateInputs(inputs, this.info.inputs);
    } catch (error) {
      const code = toOndeviceError(error).code;
      this.#rejectedHere.set(code, (this.#rejectedHere.get(code) ?? 0) + 1);
      throw error;
    }
    try {
      return await this.#connection.run(this.#id, byInputName(inputs, this.info.inputs));
    } finally {
      this.#reportStats();
    }
  }

  async stats(): Promise<ModelStats> {
    if (this.#disposed) throw disposedError();
    const stats = await this.#connection.stats(this.#id);
    const failures: Record<string, number> = { ...stats.failures };
    for (const [code, n] of this.#rejectedHere) failures[code] = (failures[code] ?? 0) + n;
    return { ...stats, failures };
  }

  /** Hands the stats to the app's sink every 100 runs or 30 seconds, whichever comes first. */
  #reportStats(): void {
    if (!this.#onStats) return;
    const due = this.#statsDue;
    due.runs++;
    if (due.runs < 100 && performance.now() - due.at < 30_000) return;
    this.#statsDue = { runs: 0, at: performance.now() };
    const sink = this.#onStats;
    this.stats().then(
      (stats) => {
        try {
          sink(stats);
        } catch {
          // The app's sink threw: its bug, not the library's.
        }
      },
      () => undefined,
    );
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

/** @file `loadModel`: options → a host (worker or this thread) → load → a `Model` that runs and disposes. */
import { cleanExitAt, watchCleanExit } from './pipeline/clean-exit.js';
import type { HostConnection } from './pipeline/connection.js';
import { backendOrder } from './backend/select.js';
import { OndeviceError, errorFromWire, isOndeviceError, parseUrl, throwIfAborted, toOndeviceError } from './errors.js';
import { parseRange } from './manifest/semver.js';
import type { RuntimeName } from './manifest/types.js';
import type { LoadControls, LoadRequest, ModelEvent } from './pipeline/host.js';
import { familyOf, type RuntimeFamily } from './runtime/runtimes.js';
import type { LoadOptions, Model } from './types.js';
import { markThreadsStalled, threadsStalled, workerConnection } from './worker/client.js';
import { familyHint, rememberFamily } from './worker/family-hint.js';
import { within } from './within.js';
import { OndeviceModel, type Opened } from './model.js';
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

/** The options every entry shares, checked and normalised into the request a host loads. */
export function loadRequest(url: string | URL, options: Omit<LoadOptions, 'worker' | 'persist'>): LoadRequest {
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
  return request;
}

async function load(url: string | URL, options: LoadOptions): Promise<Model> {
  const checked = loadRequest(url, options);
  const request = { ...checked, cleanExitAt: cleanExitAt(checked.url) };
  throwIfAborted(options.signal);
  // StorageManager.persist() exists only in windows, not in workers: ask from here. It may show a
  // permission prompt (Firefox) that is never answered, so wait a moment for a quick grant, never longer.
  if (options.persist) await within(globalThis.navigator?.storage?.persist?.(), PERSIST_WAIT_MS);
  // The model's events come for its whole life, the first ones possibly before the Model exists here.
  let model: OndeviceModel | undefined;
  const early: ModelEvent[] = [];
  const onEvent = (event: ModelEvent) => (model ? model.handle(event) : early.push(event));
  const controls: LoadControls = { signal: options.signal, onProgress: options.onProgress, onEvent };
  // A reload or a closed tab while this load compiles is not a crash (see pipeline/clean-exit.ts).
  const unwatch = watchCleanExit(request.url);
  let opened: Opened;
  try {
    opened = await open(request, options.worker, controls);
  } finally {
    unwatch();
  }
  // reload() to a version of another runtime opens it anew, from the cache, in that runtime's worker.
  const reopen = () => open({ ...request, update: 'never' }, options.worker, { onEvent });
  model = new OndeviceModel(opened, reopen, options.onUpdate, options.onStats);
  for (const event of early.splice(0)) model.handle(event);
  return model;
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
    if (result.kind === 'moved') connection.close();
    return result;
  } catch (error) {
    connection.close();
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

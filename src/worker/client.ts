/**
 * @file The page's side of the worker: one connection per Worker, a liveness lock so that a dead
 * worker is noticed, and every pending call rejected with `WORKER_CRASHED` instead of hanging.
 */
import { proxy, releaseProxy, transfer, wrap, type Remote } from 'comlink';
import type { HostConnection } from '../pipeline/connection.js';
import { OndeviceError, abortError, toOndeviceError } from '../errors.js';
import type { LoadControls, LoadRequest, LoadResult, ReloadResult } from '../pipeline/host.js';
import type { RuntimeFamily } from '../runtime/runtimes.js';
import type { ModelStats, Tensor, UpdateCheckResult } from '../types.js';
import type { WireRef, WireRunOptions, WireTensors } from '../pipeline/refs.js';
import type { GenerateControls, WireGenerateOptions } from '../pipeline/generate.js';
import type { WorkerApi } from './api.js';
import { installErrorTransfer } from './error-transfer.js';
import { forTransfer } from './tensors.js';

export class WorkerConnection implements HostConnection {
  readonly #worker: Worker;
  readonly #remote: Remote<WorkerApi>;
  /** We created the worker, so we terminate it when its last model is gone. */
  readonly #owned: boolean;
  readonly #ready: Promise<void>;
  readonly #stopWatching = new AbortController();
  readonly #onDeath = new Set<(error: OndeviceError) => void>();
  #started = false;
  #dead: OndeviceError | undefined;
  #models = 0;
  /** Ends an idle worker once its linger is over; cleared when a model arrives first. */
  #idleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(worker: Worker, owned: boolean) {
    installErrorTransfer();
    this.#worker = worker;
    this.#owned = owned;
    this.#remote = wrap<WorkerApi>(worker);
    worker.addEventListener('error', this.#onError);
    const lockName = `ondevice-worker-${randomId()}`;
    this.#ready = this.#call((api) => api.hello(lockName)).then(() => {
      this.#started = true;
      this.#watch(lockName);
    });
    this.#ready.catch(() => undefined);
    if (owned && lingerMs !== WORKER_LINGER_MS) this.#sendHold();
  }

  /**
   * A library worker keeps its runtimes' device context (WebGPU's compiled pipelines) as long as the
   * page keeps the worker lingering, so a model loaded into a lingering worker compiles nothing again.
   * Both default to 2 s, when nothing is sent.
   */
  #sendHold(): void {
    if (!this.#dead) this.#call((api) => api.hold(lingerMs === WORKER_LINGER_MS ? undefined : lingerMs)).catch(() => undefined);
  }

  get dead(): boolean {
    return this.#dead !== undefined;
  }

  abandon(why: string): void {
    if (this.#owned) this.#end(crashed(why));
  }

  /** Ends a library worker that no model uses (one lingering after its last model). */
  abandonIfIdle(): void {
    if (this.#owned && this.#models === 0) this.#end(undefined);
  }

  retain(): void {
    this.#models++;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  close(): void {
    this.#models = Math.max(0, this.#models - 1);
    if (this.#models > 0 || !this.#owned || this.#dead) return;
    // WASM memory never shrinks; ending the worker is how its memory goes back to the device. But
    // first let loads in flight finish (an aborted one is saving what it received for a resume),
    // then keep it a moment for a load that follows a dispose (a component mounted again, a model
    // switched), and keep it for good if a model arrived meanwhile.
    this.#call((api) => api.drain())
      .catch(() => undefined)
      .then(() => {
        if (this.#models === 0 && !this.#dead) this.#linger();
      });
  }

  /** (Re)starts the idle countdown, at the current linger; a worker not idle has none to restart. */
  #linger(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#models === 0) this.#end(undefined);
    }, lingerMs);
  }

  /** A new linger applies to a worker already lingering, and to how long its device context is held. */
  relinger(): void {
    if (this.#idleTimer !== undefined) this.#linger();
    if (this.#owned) this.#sendHold();
  }

  async load(request: LoadRequest, { signal, onProgress, onEvent }: LoadControls): Promise<LoadResult> {
    await this.#ready;
    const loadId = randomId();
    const pending = this.#call<LoadResult>((api) => api.load(request, loadId, onProgress && proxy(onProgress), onEvent && proxy(onEvent)) as Promise<LoadResult>);
    if (!signal) return pending;
    return new Promise<LoadResult>((resolve, reject) => {
      const onAbort = (): void => {
        reject(abortError(signal));
        this.#remote.abort(loadId).catch(() => undefined);
        // If the worker finished before it heard of the abort, free what it loaded.
        pending.then((result) => (result.kind === 'loaded' ? this.dispose(result.id) : undefined), () => undefined).catch(() => undefined);
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      pending.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  run(id: number, inputs: WireTensors, options?: WireRunOptions): Promise<WireTensors> {
    const [tensors, buffers] = forTransfer(inputs);
    // Every failure of a run is coded, a raw one from the boundary itself (an output the structured
    // clone cannot carry) included.
    return this.#call((api) => api.run(id, transfer(tensors, buffers), options)).catch((error: unknown) => Promise.reject(toOndeviceError(error, 'RUN_FAILED')));
  }

  async generate(id: number, inputs: WireTensors, options: WireGenerateOptions, { onToken, signal }: Omit<GenerateControls, 'onStep'>): Promise<number[]> {
    if (signal?.aborted) throw abortError(signal, 'The generate() call');
    const chosen = new Set<ArrayBuffer>();
    const [tensors] = forTransfer(inputs, chosen);
    // The encoder's inputs move with the call too (one list for the message: no buffer twice).
    const wireOptions = options.encoder ? { ...options, encoder: { ...options.encoder, inputs: forTransfer(options.encoder.inputs, chosen)[0] } } : options;
    const callId = randomId();
    const pending = this.#call((api) => api.generate(id, transfer(tensors, [...chosen]), wireOptions, callId, onToken && proxy(onToken))).catch((error: unknown) => Promise.reject(toOndeviceError(error, 'RUN_FAILED')));
    if (!signal) return pending;
    // The worker stops between two steps and frees what the loop kept; the call then rejects with ABORTED.
    const onAbort = (): void => void this.#remote.abort(callId).catch(() => undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await pending;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  read(id: number, ref: WireRef): Promise<Tensor> {
    return this.#call<Tensor>((api) => api.read(id, ref) as Promise<Tensor>);
  }

  release(id: number, refs: readonly number[]): Promise<void> {
    return this.#dead ? Promise.resolve() : this.#call((api) => api.release(id, refs));
  }

  asset(id: number, name: string): Promise<Uint8Array> {
    return this.#call((api) => api.asset(id, name));
  }

  checkForUpdate(id: number): Promise<UpdateCheckResult> {
    return this.#call((api) => api.checkForUpdate(id));
  }

  stats(id: number): Promise<ModelStats> {
    return this.#call((api) => api.stats(id));
  }

  reload(id: number): Promise<ReloadResult> {
    return this.#call<ReloadResult>((api) => api.reload(id) as Promise<ReloadResult>);
  }

  dispose(id: number): Promise<void> {
    return this.#dead ? Promise.resolve() : this.#call((api) => api.dispose(id));
  }

  #call<T>(fn: (api: Remote<WorkerApi>) => Promise<T>): Promise<T> {
    if (this.#dead) return Promise.reject(this.#dead);
    return new Promise<T>((resolve, reject) => {
      this.#onDeath.add(reject);
      fn(this.#remote)
        .then(resolve, reject)
        .finally(() => this.#onDeath.delete(reject));
    });
  }

  /** The worker holds a lock named `lockName` while it lives; ours is granted when it dies. */
  #watch(lockName: string): void {
    const locks = globalThis.navigator?.locks;
    if (!locks) return;
    locks
      .request(lockName, { signal: this.#stopWatching.signal }, () => {
        this.#end(crashed('it stopped unexpectedly (crashed, ran out of memory, or was terminated)'));
      })
      .catch(() => undefined);
  }

  #onError = (event: ErrorEvent): void => {
    // Before the handshake an error means the script failed to load or threw at start. Later
    // errors are uncaught exceptions the worker survives; its death is seen through the lock.
    if (!this.#started || !globalThis.navigator?.locks) {
      const what = event.message ? `its script failed: ${event.message}` : 'its script could not be loaded';
      this.#end(crashed(`${what}. Check that the worker file is served as JavaScript and that a Content-Security-Policy allows worker-src 'self', or pass worker: false`));
    }
  };

  #end(error: OndeviceError | undefined): void {
    if (this.#dead) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    this.#dead = error ?? new OndeviceError('DISPOSED', 'The ondevice worker was shut down after its last model was disposed.');
    this.#stopWatching.abort();
    this.#worker.removeEventListener('error', this.#onError);
    for (const reject of this.#onDeath) reject(this.#dead);
    this.#onDeath.clear();
    this.#remote[releaseProxy]();
    if (this.#owned) this.#worker.terminate();
  }
}

function crashed(why: string): OndeviceError {
  return new OndeviceError('WORKER_CRASHED', `The ondevice worker is gone: ${why}. Calls in flight were cancelled; load the model again.`, {
    details: { reason: why },
  });
}

function randomId(): string {
  return globalThis.crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

const shared = new Map<RuntimeFamily | 'resolve', WorkerConnection>();
const appWorkers = new WeakMap<Worker, WorkerConnection>();

/**
 * The connection for a load: the app's worker, or the library's own worker for the runtime family
 * (created lazily, shared by all models of that family).
 */
export function workerConnection(appWorker: Worker | undefined, family: RuntimeFamily | 'resolve'): WorkerConnection {
  let connection: WorkerConnection;
  if (appWorker) {
    connection = appWorkers.get(appWorker) ?? new WorkerConnection(appWorker, false);
    // A worker that died cannot be revived; only the app can create a new one.
    if (connection.dead) throw crashed('the Worker passed as option "worker" has ended; pass a new Worker');
    appWorkers.set(appWorker, connection);
  } else {
    let own = shared.get(family);
    if (!own || own.dead) {
      own = new WorkerConnection(startWorker(family), true);
      shared.set(family, own);
    }
    connection = own;
  }
  connection.retain();
  return connection;
}

/** How the library makes its own workers; replaced only by tests, to serve a host of their own making. */
let makeWorker: (family: RuntimeFamily | 'resolve') => Worker = createWorker;

/**
 * How long the library's own worker outlives its last model. A load within it reuses the worker and
 * its started runtime (0.2–0.6 s saved, and one WebAssembly memory fewer); after it the worker ends
 * and its memory goes back to the device (docs/decisions.md, "A worker lingers").
 */
export const WORKER_LINGER_MS = 2000;
let lingerMs = WORKER_LINGER_MS;

/**
 * @internal For tests: how long an idle library worker lingers (`undefined`: the default), lingering
 * ones included; its WebGPU context is held as long (see WorkerConnection's hold).
 */
export function setWorkerLinger(ms: number | undefined): void {
  lingerMs = ms ?? WORKER_LINGER_MS;
  for (const connection of shared.values()) connection.relinger();
}

/** A threaded WASM start stalled in one of the library's workers on this page (see pipeline/threads.ts): later loads ask for one thread. */
let stalled = false;

export function threadsStalled(): boolean {
  return stalled;
}

export function markThreadsStalled(): void {
  stalled = true;
}

/**
 * @internal For tests: the library's own workers come from `factory` until it is reset with
 * `undefined`, which also starts afresh what was learnt about them (a stalled threaded start).
 */
export function setWorkerFactory(factory: ((family: RuntimeFamily | 'resolve') => Worker) | undefined): void {
  makeWorker = factory ?? createWorker;
  // A lingering worker came from the old factory: end it, so the next load starts one from the new.
  for (const connection of shared.values()) connection.abandonIfIdle();
  shared.clear();
  if (!factory) stalled = false;
}

function startWorker(family: RuntimeFamily | 'resolve'): Worker {
  try {
    return makeWorker(family);
  } catch (error) {
    // A Content-Security-Policy without worker-src 'self', or a browser without module workers.
    throw crashed(`it could not be started (${error instanceof Error ? error.message : String(error)}); allow it with CSP worker-src 'self', or pass worker: false`);
  }
}

function createWorker(family: RuntimeFamily | 'resolve'): Worker {
  // Keep these expressions literal: the app's bundler recognises them and bundles each worker with its
  // runtime and that runtime's .wasm (our own build keeps them verbatim, see vite.config.ts). One
  // worker per runtime family, because bundlers may inline a worker's dynamic imports; and one with no
  // runtime for a model whose runtime is not known yet (see runtime/family-hint.ts).
  if (family === 'resolve') return new Worker(new URL('./worker-resolve.js', import.meta.url), { type: 'module' });
  if (family === 'tfjs') return new Worker(new URL('./worker-tfjs.js', import.meta.url), { type: 'module' });
  return new Worker(new URL('./worker-onnx.js', import.meta.url), { type: 'module' });
}

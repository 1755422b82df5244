/**
 * @file The model host: loads models (see start.ts), runs them, checks for updates and reloads them,
 * and keeps track of everything in flight so that a worker ends only when its work is done. The
 * worker exposes one of these; `worker: false` calls one directly. Every error leaves it as an
 * `OndeviceError` with a code.
 */
import { wasmThreadCount } from '../backend/detect.js';
import { BackendSkipped } from '../backend/select.js';
import { holdShared } from '../cache/locks.js';
import { modelLock, type Estimate } from '../cache/quota.js';
import { defaultCacheStore, type CacheStore, type StoragePreference } from '../cache/store.js';
import type { Fetch } from '../download/fetch-file.js';
import { DEFAULT_RETRY } from '../download/resumable.js';
import { OndeviceError, disposedError, errorToWire, throwIfAborted, toOndeviceError, type WireError } from '../errors.js';
import type { RuntimeName } from '../manifest/types.js';
import { createProgressEmitter, type ProgressEmitter, type ProgressListener } from '../progress.js';
import type { Runtimes } from '../runtime/runtimes.js';
import type { ModelInfo, ModelStats, Tensor } from '../types.js';
import type { GraphSessions } from './graphs.js';
import { RefRegistry, type WireRef, type WireRunOptions, type WireTensors } from './refs.js';
import { resolveFiles, type ReleaseFiles } from './release-files.js';
import { generateTokens, type GenerateControls, type WireGenerateOptions } from './generate.js';
import { runGraph } from './run-graph.js';
import { createPhaseClock, createStatsRecorder, type StatsRecorder } from './stats.js';
import { cachedVersion, checkForUpdate, markStarted, type Handoff, type Resolved, type ResolveContext, type UpdateCheck } from '../update/resolve.js';
import { createListeners, type ModelEventListener } from './listeners.js';
import { probeDevice, RuntimeMoved, startModel, variantChooser, type Device, type LoadRequest, type Opened } from './start.js';
import { THREADED_START_MS, type Threading } from './threads.js';

export type { Handoff } from '../update/resolve.js';
export type { ReleaseFiles } from './release-files.js';
export type { LoadRequest } from './start.js';
export type { ModelEvent, ModelEventListener } from './listeners.js';

/** A load's outcome: the model is loaded here, or its runtime lives in another worker (load it there, with this manifest). */
export type LoadResult =
  | { kind: 'loaded'; id: number; info: ModelInfo; updateError: WireError | null }
  | { kind: 'moved'; runtime: RuntimeName; handoff: Handoff | undefined };

export type ReloadResult = { kind: 'loaded'; info: ModelInfo } | { kind: 'moved'; runtime: RuntimeName };

export interface LoadControls {
  signal?: AbortSignal | undefined;
  onProgress?: ProgressListener | undefined;
  /** Kept for the model's life: updates, revocations, and how each update check went. */
  onEvent?: ModelEventListener | undefined;
}

export interface ModelHost {
  load(request: LoadRequest, controls?: LoadControls): Promise<LoadResult>;
  /** Runs a graph (the default one unless `options.graph`); kept outputs come back as refs. */
  run(id: number, inputs: WireTensors, options?: WireRunOptions): Promise<WireTensors>;
  /** A greedy decode loop run here (see generate.ts): the tokens it chose. */
  generate(id: number, inputs: WireTensors, options: WireGenerateOptions, controls?: Omit<GenerateControls, 'onStep'>): Promise<number[]>;
  /** The data of a kept output. */
  read(id: number, ref: WireRef): Promise<Tensor>;
  /** Frees kept outputs (unknown ids are ignored). */
  release(id: number, refs: readonly number[]): Promise<void>;
  /** A copy of an asset's bytes from the running version. */
  asset(id: number, name: string): Promise<Uint8Array>;
  checkForUpdate(id: number): Promise<UpdateCheck>;
  /** A release's files for one variant, verified, with no session (see release-files.ts): `transformersCache`'s source. */
  files(request: LoadRequest, controls?: LoadControls): Promise<ReleaseFiles>;
  /** One conditional request for a release served by `files`, which runs `running`. */
  checkRelease(request: LoadRequest, running: string): Promise<UpdateCheck>;
  /** Switches the model to the cache's active version, on a new session; returns the new info. */
  reload(id: number): Promise<ReloadResult>;
  /** What the model did since it loaded (or was reloaded). */
  stats(id: number): Promise<ModelStats>;
  dispose(id: number): Promise<void>;
  /** Resolves once no load, reload or update check is in flight. */
  idle(): Promise<void>;
  /** How long the runtimes keep a device context after their last session (`undefined`: their default); see RuntimeAdapter.hold. */
  hold(ms: number | undefined): void;
  /** How many models are loaded. */
  readonly size: number;
}

export interface ModelHostOptions {
  /** @default globalThis.fetch */
  fetch?: Fetch;
  /**
   * The runtimes this host runs. Each worker bundle holds only its own (an app's bundler may inline a
   * worker's dynamic imports, so a worker that imported every adapter would carry every runtime).
   */
  runtimes: Runtimes;
  /** The cache for a load's storage preference. @default IndexedDB through idb-keyval, bytes in OPFS where it works (`undefined`: run without a cache) */
  store?: (storage: StoragePreference) => CacheStore | undefined;
  /** @default navigator.storage.estimate */
  estimate?: Estimate;
  /** WASM threads this context can use. @default wasmThreadCount() (1 unless cross-origin isolated with SharedArrayBuffer) */
  threads?: () => number;
  /** How long a first threaded WASM start may take before it counts as stalled (see pipeline/threads.ts). */
  threadedStartMs?: number;
}

interface Loaded {
  session: GraphSessions;
  info: ModelInfo;
  assets: ReadonlyMap<string, Uint8Array>;
  /** Outputs kept by its runs; released all at once by reload() and dispose(). */
  refs: RefRegistry;
  request: LoadRequest;
  recorder: StatsRecorder;
  load: ModelStats['load'];
  /** Releases the model's `model:<url>` lock, which tells other contexts it runs here. */
  unlock: () => void;
  /** Its versions' storage writes still running (see `confirm`): dispose() waits for them. */
  writes: Promise<unknown>[];
}

/** Marks each progress phase on `clock` as the event passes through. */
function timed(progress: ProgressEmitter, clock: ReturnType<typeof createPhaseClock>): ProgressEmitter {
  return {
    emit(event) {
      clock.mark(event.phase);
      progress.emit(event);
    },
    flush: () => progress.flush(),
  };
}

/** Where the host meets its callers: one mapping to `OndeviceError` for everything that escapes. */
function mapError(error: unknown, fallback: 'RUN_FAILED' | 'INTERNAL' = 'INTERNAL'): OndeviceError {
  if (error instanceof BackendSkipped) return new OndeviceError('BACKEND_UNAVAILABLE', `The model's backend is not available now: ${error.reason}.`, { details: { reason: error.reason }, cause: error });
  return toOndeviceError(error, fallback);
}

export function createModelHost(options: ModelHostOptions): ModelHost {
  const models = new Map<number, Loaded>();
  const inFlight = new Set<Promise<unknown>>();
  let nextId = 1;
  const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  const { runtimes } = options;
  const store = options.store ?? ((storage: StoragePreference) => (typeof indexedDB === 'undefined' ? undefined : defaultCacheStore(storage)));
  const listeners = createListeners(() => store('auto'));

  /** The backends this host's runtimes run on: the only ones its loads probe. */
  const offered = new Set(Object.values(runtimes).flatMap((r) => r?.backends ?? []));

  const threading = (request: LoadRequest): Threading => ({
    threads: Math.max(1, Math.min(request.threads ?? Number.POSITIVE_INFINITY, (options.threads ?? wasmThreadCount)())),
    startMs: options.threadedStartMs ?? THREADED_START_MS,
  });

  const track = <T>(work: Promise<T>): Promise<T> => {
    inFlight.add(work);
    void work.catch(() => undefined).finally(() => inFlight.delete(work));
    return work;
  };

  /** Each runtime starts loading its code for the first backend it would try here, while the cache is read. */
  const prepareRuntimes = (request: LoadRequest, device: Device) => {
    for (const adapter of Object.values(runtimes)) {
      const order = typeof request.backends === 'string' ? adapter?.backends : request.backends;
      const first = order?.find((b) => adapter?.backends.includes(b) && device.get(b)?.ok !== false);
      if (adapter && first) adapter.prepare?.(first, { threads: threading(request).threads });
    }
  };

  /** `starting`: the load will open a session here (else an update check, which only downloads). */
  const context = (request: LoadRequest, device: Device | Promise<Device>, progress: ProgressEmitter, signal: AbortSignal | undefined, starting: boolean): ResolveContext => ({
    choose: variantChooser(runtimes, request, device, starting),
    retry: { ...DEFAULT_RETRY, ...request.retry },
    fetch: fetchFn,
    signal,
    progress,
    store: store(request.storage ?? 'auto'),
    estimate: options.estimate,
    inUse: new Set([...models.values()].map((m) => m.request.url)),
    handoff: request.handoff,
    publicKeys: request.publicKeys,
    onActivated: (version) => void learnt(request.url).activated.push(version),
    onRevoked: (versions) => void learnt(request.url).revoked.push(...versions),
  });

  /**
   * What resolving learnt (activations, revocations) is told to this context's models once the
   * operation ends: a revocation first, naming the version to move to, so a model hears one event.
   */
  const seen = new Map<string, { activated: string[]; revoked: string[] }>();
  const learnt = (url: string) => {
    if (!seen.has(url)) seen.set(url, { activated: [], revoked: [] });
    return seen.get(url)!;
  };
  const tellModels = async (url: string) => {
    const learnt = seen.get(url);
    if (!learnt) return;
    seen.delete(url);
    if (learnt.revoked.length > 0) await listeners.revoked(url, learnt.revoked);
    for (const version of learnt.activated) listeners.activated(url, version);
  };

  /**
   * The storage writes a started version leaves behind (its start recorded, its last use), off the
   * critical path but tracked: the worker drains them before it ends, and the model's dispose() waits
   * for them, so an app that ends its worker after dispose() cuts no write in half.
   */
  const confirm = (resolved: Resolved, ctx: ResolveContext): Promise<unknown> =>
    track(Promise.all([resolved.settling, resolved.needsConfirm ? markStarted(resolved.url, resolved.version, ctx).catch(() => undefined) : undefined]));

  const find = (id: number): Loaded => {
    const model = models.get(id);
    if (!model) throw disposedError();
    return model;
  };

  /** One conditional request for model `id`; its outcome reaches the model's listener. */
  const check = (id: number): Promise<UpdateCheck> =>
    track(
      (async () => {
        const model = find(id);
        const device = await probeDevice(model.request.backends, offered, runtimes);
        const ctx = context(model.request, device, createProgressEmitter(undefined), undefined, false);
        try {
          const result = await checkForUpdate(model.request.url, model.info.version, model.request, ctx);
          listeners.checked(id, null);
          if (result.revoked && model.info.version !== null) await listeners.revoked(model.request.url, [model.info.version]);
          if (result.available && result.version) listeners.activated(model.request.url, result.version);
          return result;
        } catch (error) {
          listeners.checked(id, mapError(error));
          throw error;
        } finally {
          await tellModels(model.request.url);
        }
      })(),
    );

  async function load(request: LoadRequest, controls: LoadControls): Promise<LoadResult> {
    const { signal } = controls;
    throwIfAborted(signal);
    // Held from now on: no other context evicts this model while it loads or runs.
    const unlock = await holdShared(store(request.storage ?? 'auto'), modelLock(request.url));
    const clock = createPhaseClock();
    const progress = timed(createProgressEmitter(controls.onProgress), clock);
    // Probed while the cache is read (see update/from-cache.ts); the runtime loads once it is known.
    const device = probeDevice(request.backends, offered, runtimes);
    device.then((d) => prepareRuntimes(request, d)).catch(() => undefined);
    const ctx = context(request, device, progress, signal, true);
    let started;
    try {
      started = await startModel(request, runtimes, ctx, device, threading(request));
    } catch (error) {
      unlock();
      await tellModels(request.url);
      if (!(error instanceof RuntimeMoved)) throw error;
      const fetched = ctx.fetched;
      return { kind: 'moved', runtime: error.runtime, handoff: fetched && { json: fetched.json, validator: fetched.validator } };
    }
    const { resolved, opened } = started;
    await tellModels(request.url);
    const id = nextId++;
    // The handed-over manifest answered this load only: later checks must ask the host.
    const writes = [confirm(resolved, ctx)];
    models.set(id, { ...opened, refs: new RefRegistry(), request: { ...request, handoff: undefined }, unlock, recorder: createStatsRecorder(), load: clock.done(), writes });
    listeners.add(id, { url: request.url, running: () => models.get(id)?.info.version ?? null, range: request.version, listener: controls.onEvent });
    await progress.flush();
    // Stale-while-revalidate: the cached model is running; now ask the host, off the critical path
    // (unless this load already asked it).
    if (request.update === 'background' && !resolved.asked) void check(id).catch(() => undefined);
    return { kind: 'loaded', id, info: opened.info, updateError: resolved.updateError ? errorToWire(resolved.updateError) : null };
  }

  async function files(request: LoadRequest, controls: LoadControls): Promise<ReleaseFiles> {
    throwIfAborted(controls.signal);
    // The model's lock is asked for first (an eviction asked after it waits until this resolve ends),
    // and the cache is read while the lock manager answers: its round trip is off the critical path.
    // An eviction already under way can still take the files; the read then misses and the version
    // is downloaded again, as after any eviction.
    const locking = holdShared(store(request.storage ?? 'auto'), modelLock(request.url));
    const progress = createProgressEmitter(controls.onProgress);
    const ctx = context(request, probeDevice(request.backends, offered, runtimes), progress, controls.signal, false);
    const [lock, resolve] = await Promise.allSettled([locking, resolveFiles(request.url, request, ctx)]);
    try {
      if (lock.status === 'rejected') throw lock.reason;
      if (resolve.status === 'rejected') throw resolve.reason;
      const { files, resolved } = resolve.value;
      await progress.flush();
      void confirm(resolved, ctx);
      return files;
    } finally {
      if (lock.status === 'fulfilled') void lock.value();
      await tellModels(request.url);
    }
  }

  const checkRelease = (request: LoadRequest, running: string) =>
    track(
      (async () => {
        const ctx = context(request, probeDevice(request.backends, offered, runtimes), createProgressEmitter(undefined), undefined, false);
        try {
          return await checkForUpdate(request.url, running, request, ctx);
        } finally {
          await tellModels(request.url);
        }
      })(),
    );

  async function reload(id: number): Promise<ReloadResult> {
    const model = find(id);
    // Every ref is freed by a reload, whether or not it switches (refs are tied to a session).
    model.refs.clear();
    // The cache's active version, with no network: reload() only switches to what is verified here.
    const request = { ...model.request, update: 'never' as const };
    const device = await probeDevice(request.backends, offered, runtimes);
    const clock = createPhaseClock();
    const ctx = context(request, device, timed(createProgressEmitter(undefined), clock), undefined, true);
    if ((await cachedVersion(request.url, request, ctx)) === model.info.version) return { kind: 'loaded', info: model.info };
    let opened: Opened;
    try {
      const started = await startModel(request, runtimes, ctx, device, threading(request));
      opened = started.opened;
      model.writes.push(confirm(started.resolved, ctx));
    } catch (error) {
      if (error instanceof RuntimeMoved) return { kind: 'moved', runtime: error.runtime };
      throw error;
    }
    if (models.get(id) !== model) {
      // Disposed while the new session was being built: it is nobody's now.
      await opened.session.release().catch(() => undefined);
      throw disposedError();
    }
    const old = model.session;
    // Another version on another session: its numbers start afresh.
    Object.assign(model, opened, { recorder: createStatsRecorder(), load: clock.done() });
    await old.release().catch(() => undefined);
    return { kind: 'loaded', info: model.info };
  }

  return {
    load: (request, controls = {}) => track(load(request, controls)).catch((error: unknown) => Promise.reject(mapError(error))),
    async run(id, inputs, options) {
      const model = models.get(id);
      const started = performance.now();
      try {
        if (!model) throw disposedError();
        if (options?.release) model.refs.release(options.release);
        // Inputs were validated by the caller's Model before they left its thread (see load-model.ts).
        const outputs = await runGraph(model.session, model.refs, model.info.runtime, inputs, options);
        model.recorder.run(performance.now() - started);
        return outputs;
      } catch (error) {
        const mapped = mapError(error, 'RUN_FAILED');
        model?.recorder.failure(mapped.code);
        throw mapped;
      }
    },
    async generate(id, inputs, options, controls = {}) {
      const model = models.get(id);
      try {
        if (!model) throw disposedError();
        if (options.release) model.refs.release(options.release);
        // A dispose() or reload() frees every kept value and may release the session: the loop stops.
        const generation = model.refs.generation;
        const ended = () =>
          models.get(id) !== model
            ? disposedError()
            : model.refs.generation !== generation
              ? new OndeviceError('ABORTED', 'generate() was stopped by reload(), which frees what the loop kept; call it again.', { details: { reason: 'reload' } })
              : undefined;
        return await generateTokens(model.session, model.refs, model.info.runtime, inputs, options, { ...controls, onStep: (ms) => model.recorder.run(ms), ended });
      } catch (error) {
        const mapped = mapError(error, 'RUN_FAILED');
        model?.recorder.failure(mapped.code);
        throw mapped;
      }
    },
    async read(id, ref) {
      return find(id).refs.read(ref);
    },
    async release(id, refs) {
      models.get(id)?.refs.release(refs);
    },
    async asset(id, name) {
      const model = find(id);
      const bytes = model.assets.get(name);
      if (!bytes) {
        const names = [...model.assets.keys()];
        throw new OndeviceError('INPUT_INVALID', `This release has no asset "${name}"; ${names.length > 0 ? `its assets are ${names.map((n) => `"${n}"`).join(', ')}` : 'it has no assets'}.`, {
          details: { input: 'name', expected: names, actual: name },
        });
      }
      // A copy: the caller may transfer it away, and the running version keeps its own.
      return bytes.slice();
    },
    async stats(id) {
      const model = find(id);
      const { info } = model;
      return { ...model.recorder.snapshot(), load: model.load, backend: info.backend, variant: info.variant, version: info.version, kept: model.refs.size };
    },
    checkForUpdate: (id) => check(id).catch((error: unknown) => Promise.reject(mapError(error))),
    files: (request, controls = {}) => track(files(request, controls)).catch((error: unknown) => Promise.reject(mapError(error))),
    checkRelease: (request, running) => checkRelease(request, running).catch((error: unknown) => Promise.reject(mapError(error))),
    reload: (id) => track(reload(id)).catch((error: unknown) => Promise.reject(mapError(error))),
    async dispose(id) {
      const model = models.get(id);
      if (!model) return;
      models.delete(id);
      listeners.delete(id);
      model.unlock();
      model.refs.clear();
      await Promise.all([model.session.release().catch(() => undefined), ...model.writes]);
    },
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
    hold(ms) {
      for (const adapter of Object.values(runtimes)) adapter?.hold?.(ms);
    },
    get size() {
      return models.size;
    },
  };
}

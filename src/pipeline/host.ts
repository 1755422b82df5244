/**
 * @file The model host: loads models (cache or host → runtime session on the first backend that
 * works), runs them, checks for updates and reloads them. The worker exposes one of these;
 * `worker: false` calls one directly.
 */
import { OndeviceError, abortError, disposedError, isOndeviceError, throwIfAborted } from '../errors.js';
import { BackendSkipped, firstWorkingBackend } from '../backend/select.js';
import { probeBackend, type Availability } from '../backend/detect.js';
import { chooseVariant, unmet } from '../backend/variants.js';
import type { Estimate } from '../cache/quota.js';
import { defaultCacheStore, type CacheStore } from '../cache/store.js';
import type { Fetch } from '../download/fetch-file.js';
import { DEFAULT_RETRY } from '../download/resumable.js';
import type { RuntimeName } from '../manifest/types.js';
import type { Runtimes } from '../runtime/runtimes.js';
import type { RuntimeAdapter, RuntimeSession } from '../runtime/types.js';
import type { Backend, ModelInfo, TensorMap, UpdateInfo } from '../types.js';
import { onActivated } from '../update/coordination.js';
import { createProgressEmitter, type ProgressEmitter, type ProgressListener } from './progress.js';
import { cachedVersion, checkForUpdate, confirmStarted, resolveModel, rollBack, type Handoff, type Resolved, type ResolveContext, type UpdateCheck, type UpdateRules } from './resolve.js';

export type { Handoff } from './resolve.js';

/** A load as it crosses the worker boundary: plain data only. */
export interface LoadRequest extends UpdateRules {
  /** Absolute URL of a manifest or a model file. */
  url: string;
  /** Backends to try, in order (already normalised), or `'auto'`: the runtime's own order. */
  backends: Backend[] | 'auto';
  /** The manifest another worker just fetched for this load (see `runtimeElsewhere`): used instead of asking again. */
  handoff?: Handoff | undefined;
}

export interface LoadResult {
  id: number;
  info: ModelInfo;
}

export type UpdateListener = (info: UpdateInfo) => unknown;

export interface LoadControls {
  signal?: AbortSignal | undefined;
  onProgress?: ProgressListener | undefined;
  onUpdate?: UpdateListener | undefined;
}

export interface ModelHost {
  load(request: LoadRequest, controls?: LoadControls): Promise<LoadResult>;
  run(id: number, inputs: TensorMap): Promise<TensorMap>;
  checkForUpdate(id: number): Promise<UpdateCheck>;
  /** Switches the model to the cache's active version, on a new session; returns the new info. */
  reload(id: number): Promise<ModelInfo>;
  dispose(id: number): Promise<void>;
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
  /** @default IndexedDB through idb-keyval (`undefined` entries run without a cache) */
  store?: () => CacheStore | undefined;
  /** @default navigator.storage.estimate */
  estimate?: Estimate;
}

interface Loaded {
  session: RuntimeSession;
  info: ModelInfo;
  request: LoadRequest;
  onUpdate: UpdateListener | undefined;
}

type Device = ReadonlyMap<Backend, Availability>;

const ALL_BACKENDS: readonly Backend[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

/** Asked before the manifest says which runtime runs the model; each probe is made once per context. */
async function probeDevice(backends: readonly Backend[] | 'auto'): Promise<Device> {
  const asked = backends === 'auto' ? ALL_BACKENDS : backends;
  return new Map(await Promise.all(asked.map(async (b) => [b, await probeBackend(b)] as const)));
}

/**
 * The model needs a runtime this host does not have: the library's client loads it again in the worker
 * that has it, handing over the manifest this load already fetched, so the host is not asked twice.
 */
function runtimeElsewhere(runtime: RuntimeName, ctx: ResolveContext): OndeviceError {
  const fetched = ctx.fetched;
  return new OndeviceError('BACKEND_UNAVAILABLE', `This worker does not run "${runtime}" models; load them with ondevice's own worker or the "ondevice/worker" entry.`, {
    details: { runtime, elsewhere: true, ...(fetched && { handoff: { json: fetched.json, validator: fetched.validator } }) },
  });
}

function runtimeOf(resolved: { manifest?: { runtime: RuntimeName } | undefined }): RuntimeName {
  // A bare model URL is an ONNX file.
  return resolved.manifest?.runtime ?? 'onnx';
}

function orderFor(adapter: RuntimeAdapter, backends: readonly Backend[] | 'auto'): readonly Backend[] {
  return backends === 'auto' ? adapter.backends : backends;
}

export function createModelHost(options: ModelHostOptions): ModelHost {
  const models = new Map<number, Loaded>();
  let nextId = 1;
  const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  const runtimes = options.runtimes;
  const store = options.store ?? (() => (typeof indexedDB === 'undefined' ? undefined : defaultCacheStore()));

  /** `starting`: the load will open a session here (else an update check, which only downloads). */
  const context = (signal: AbortSignal | undefined, progress: ProgressEmitter, request: LoadRequest, device: Device, starting = false): ResolveContext => {
    const ctx: ResolveContext = {
      choose: (manifest) => {
        const adapter = runtimes[manifest.runtime];
        if (!adapter) {
          // A load: before any file is downloaded, the worker that has the runtime takes over. An update
          // check (a new version may change runtime) downloads here: the files are only bytes until run.
          if (starting) throw runtimeElsewhere(manifest.runtime, ctx);
          return chooseVariant(manifest.variants, request.backends === 'auto' ? ALL_BACKENDS : request.backends, request.variant, device);
        }
        return chooseVariant(manifest.variants, orderFor(adapter, request.backends).filter((b) => adapter.backends.includes(b)), request.variant, device);
      },
      retry: { ...DEFAULT_RETRY, ...request.retry },
      fetch: fetchFn,
      signal,
      progress,
      store: store(),
      estimate: options.estimate,
      inUse: new Set([...models.values()].map((m) => m.request.url)),
      handoff: request.handoff,
    };
    return ctx;
  };

  /** Tells each model of `url` that runs something else than `version` (the cache's new active one). */
  const notify = (url: string, version: string, revoked = false): void => {
    for (const model of models.values()) {
      if (model.request.url !== url || (model.info.version === version && !revoked)) continue;
      try {
        void Promise.resolve(model.onUpdate?.({ version, previousVersion: model.info.version, revoked })).catch(() => undefined);
      } catch {
        // The app's listener threw: its bug, not the host's.
      }
    }
  };
  // Another tab or worker activated a version.
  onActivated((message) => notify(message.url, message.version));

  async function open(resolved: Resolved, request: LoadRequest, progress: ProgressEmitter, signal: AbortSignal | undefined, device: Device, ctx: ResolveContext) {
    const runtime = runtimeOf(resolved);
    const adapter = runtimes[runtime];
    if (!adapter) throw runtimeElsewhere(runtime, ctx);
    const { value: session, backend, fallbacks } = await firstWorkingBackend(
      orderFor(adapter, request.backends),
      async (b) => {
        if (!adapter.backends.includes(b)) throw new BackendSkipped('unavailable', adapter.unsupported(b));
        const requires = resolved.variant === null ? [] : (resolved.manifest?.variants[resolved.variant]?.requires ?? []);
        const missing = unmet(requires, b, device);
        if (missing.length > 0) throw new BackendSkipped('unavailable', `variant ${resolved.variant} needs ${missing.join(', ')}, which ${b} here does not offer`);
        progress.emit({ phase: 'compile', backend: b });
        return adapter.create(resolved.files, b);
      },
      signal,
    );
    if (signal?.aborted) {
      // Session creation cannot be interrupted inside the runtime; drop the result instead.
      await session.release().catch(() => undefined);
      throw abortError(signal);
    }
    const info: ModelInfo = {
      name: resolved.name,
      version: resolved.version,
      variant: resolved.variant,
      runtime,
      backend,
      fallbacks: [...resolved.variantFallbacks, ...fallbacks],
      fromCache: resolved.fromCache,
      // The model file is the truth about its inputs; the manifest only describes them.
      inputs: session.inputs,
      outputs: session.outputs,
      metadata: resolved.manifest?.metadata ?? {},
      url: resolved.url,
    };
    return { session, info };
  }

  type Opened = { session: RuntimeSession; info: ModelInfo };

  /** Builds the session while the cached bytes are hashed; `undefined` if they were altered (the session is dropped). */
  async function openVerified(resolved: Resolved, request: LoadRequest, progress: ProgressEmitter, signal: AbortSignal | undefined, device: Device, ctx: ResolveContext): Promise<Opened | undefined> {
    const [opening, checking] = await Promise.allSettled([open(resolved, request, progress, signal, device, ctx), resolved.verified]);
    if (checking.status === 'rejected') {
      if (opening.status === 'fulfilled') await opening.value.session.release().catch(() => undefined);
      return undefined;
    }
    if (opening.status === 'rejected') throw opening.reason;
    return opening.value;
  }

  /**
   * Resolves and opens the model: once more if the cached copy turned out altered (now dropped, so the
   * host is asked), and the rollback version if a new one cannot start on any backend.
   */
  async function start(request: LoadRequest, progress: ProgressEmitter, signal: AbortSignal | undefined): Promise<{ resolved: Resolved; opened: Opened; ctx: ResolveContext }> {
    const device = await probeDevice(request.backends);
    const ctx = context(signal, progress, request, device, true);
    let resolved = await resolveModel(request.url, request, ctx);
    throwIfAborted(signal);
    let opened: Opened | undefined;
    try {
      opened = await openVerified(resolved, request, progress, signal, device, ctx);
      if (!opened) {
        resolved = await resolveModel(request.url, request, ctx);
        opened = await openVerified(resolved, request, progress, signal, device, ctx);
      }
    } catch (error) {
      const previous = isOndeviceError(error, 'MODEL_INVALID') ? await rollBack(request.url, resolved.version, request, ctx).catch(() => undefined) : undefined;
      if (!previous) throw error;
      resolved = previous;
      opened = await openVerified(resolved, request, progress, signal, device, ctx);
    }
    if (!opened) throw new OndeviceError('INTEGRITY_MISMATCH', `The cached files of ${request.url} were altered twice in a row while loading; try again.`, { details: { url: request.url } });
    progress.emit({ phase: 'ready', backend: opened.info.backend });
    return { resolved, opened, ctx };
  }

  async function backgroundCheck(id: number): Promise<void> {
    const model = models.get(id);
    if (!model) return;
    const ctx = context(undefined, createProgressEmitter(undefined), model.request, await probeDevice(model.request.backends));
    const result = await checkForUpdate(model.request.url, model.info.version, model.request, ctx).catch(() => undefined);
    if (result?.revoked) notify(model.request.url, result.version ?? model.info.version ?? '', true);
    else if (result?.available && result.version) notify(model.request.url, result.version);
  }

  return {
    async load(request, controls = {}) {
      const { signal } = controls;
      throwIfAborted(signal);
      const progress = createProgressEmitter(controls.onProgress);
      const { resolved, opened, ctx } = await start(request, progress, signal);
      const id = nextId++;
      models.set(id, { ...opened, request, onUpdate: controls.onUpdate });
      await progress.flush();
      if (resolved.keepsPrevious) void confirmStarted(request.url, resolved.version, ctx).catch(() => undefined);
      // Stale-while-revalidate: the cached model is running; now ask the host, off the critical path
      // (unless this load already asked it).
      if (request.update === 'background' && !resolved.asked) void backgroundCheck(id);
      return { id, info: opened.info };
    },

    async run(id, inputs) {
      const model = models.get(id);
      if (!model) throw disposedError();
      // Inputs were validated by the caller's Model before they left its thread (see load-model.ts).
      return model.session.run(inputs);
    },

    async checkForUpdate(id) {
      const model = models.get(id);
      if (!model) throw disposedError();
      const ctx = context(undefined, createProgressEmitter(undefined), model.request, await probeDevice(model.request.backends));
      return checkForUpdate(model.request.url, model.info.version, model.request, ctx);
    },

    async reload(id) {
      const model = models.get(id);
      if (!model) throw disposedError();
      const progress = createProgressEmitter(undefined);
      // The cache's active version, with no network: reload() only switches to what is verified here.
      const rules = { ...model.request, update: 'never' as const };
      const peek = context(undefined, progress, rules, await probeDevice(rules.backends));
      if ((await cachedVersion(model.request.url, rules, peek)) === model.info.version) return model.info;
      const { resolved, opened, ctx } = await start(rules, progress, undefined);
      const old = model.session;
      Object.assign(model, opened);
      await old.release().catch(() => undefined);
      if (resolved.keepsPrevious) void confirmStarted(model.request.url, resolved.version, ctx).catch(() => undefined);
      return model.info;
    },

    async dispose(id) {
      const model = models.get(id);
      if (!model) return;
      models.delete(id);
      await model.session.release();
    },

    get size() {
      return models.size;
    },
  };
}

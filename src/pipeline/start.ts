/**
 * @file Starting a model: resolve its version (cache or host), build the session on the first backend
 * that works while cached bytes are hashed, and decide what a failure means. A version whose bytes no
 * runtime accepts, that has never started here and that replaced a version still kept, is banned on
 * this device and the previous one runs; every other failure fails this load and leaves the version
 * loadable (a backend that merely failed, out of memory or a lost GPU, says nothing about the bytes).
 */
import { probeBackend, type Device } from '../backend/detect.js';
import { BackendSkipped, firstWorkingBackend, type BackendOrder } from '../backend/select.js';
import { chooseVariant, unmet } from '../backend/variants.js';
import { CacheMiss } from '../cache/files.js';
import { OndeviceError, abortError, isOndeviceError, throwIfAborted } from '../errors.js';
import type { RuntimeName } from '../manifest/types.js';
import { VERSION } from '../version.js';
import { guardStart } from './crash-guard.js';
import { boundedStart, runsOnWasm, type Threading } from './threads.js';
import { deviceKey, fastestBackend, tuningRecord, type Tuning } from './fastest.js';
import type { Runtimes } from '../runtime/runtimes.js';
import type { RuntimeAdapter } from '../runtime/types.js';
import { assetInfo, createGraphs, releaseParts, type GraphSessions } from './graphs.js';
import type { Backend, ModelInfo, OnnxOptions } from '../types.js';
import { ranOn, resolveModel, rollBack, type Handoff, type Resolved, type ResolveContext, type UpdateRules } from '../update/resolve.js';

/** A load as it crosses the worker boundary: plain data only. */
export interface LoadRequest extends UpdateRules {
  /** Absolute URL of a manifest or a model file. */
  url: string;
  /** Backends to try, in order (already normalised), or `'auto'` (the runtime's own order), or `'fastest'` (measured). */
  backends: BackendOrder;
  /** The manifest another worker just fetched for this load (see `RuntimeMoved`): used instead of asking again. */
  handoff?: Handoff | undefined;
  /** At most this many WASM threads (1 after a threaded start stalled on this page; see threads.ts). */
  threads?: number | undefined;
  /** onnxruntime-web session settings (validated by the caller). */
  onnx?: OnnxOptions | undefined;
  /** When the page last ended cleanly during a load of this model (see pipeline/clean-exit.ts): not a crash. */
  cleanExitAt?: number | undefined;
}

/** The browser and library a crash-guard mark belongs to. */
const guardEnv = () => `${globalThis.navigator?.userAgent ?? 'unknown'} ondevice/${VERSION}`;

export type { Device } from '../backend/detect.js';

const ALL_BACKENDS: readonly Backend[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

/**
 * Asked before the manifest says which runtime runs the model; each probe is made once per context.
 * `offered`: the backends this host's runtimes run on, the only ones worth probing (the ONNX worker
 * never makes a WebGL context); empty (a host with no runtime) probes them all.
 */
export async function probeDevice(backends: BackendOrder, offered: ReadonlySet<Backend> = new Set(), runtimes: Runtimes = {}): Promise<Device> {
  const all = typeof backends === 'string' ? [...ALL_BACKENDS, ...offered] : backends;
  const asked = [...new Set(offered.size > 0 ? all.filter((b) => offered.has(b)) : all)];
  // A backend a runtime probes itself (onnxruntime-node's providers), else the context's own probe.
  const probe = (b: Backend) => Object.values(runtimes).find((r) => r?.probe && r.backends.includes(b))?.probe?.(b) ?? probeBackend(b);
  return new Map(await Promise.all(asked.map(async (b) => [b, await probe(b)] as const)));
}

/**
 * The model needs a runtime this host does not have. Not an error: the load is handed to the worker
 * that has the runtime, with the manifest this load already fetched (so the host is not asked twice).
 */
export class RuntimeMoved extends Error {
  constructor(readonly runtime: RuntimeName) {
    super(`runtime ${runtime} runs in another worker`);
  }
}

function orderFor(adapter: RuntimeAdapter, backends: BackendOrder): readonly Backend[] {
  return typeof backends === 'string' ? adapter.backends : backends;
}

/** The variant chooser for a resolve: with this host's adapter, or (for a runtime it lacks) every backend asked. */
export function variantChooser(runtimes: Runtimes, request: LoadRequest, probed: Device | Promise<Device>, starting: boolean): ResolveContext['choose'] {
  return async (manifest) => {
    const device = await probed;
    const adapter = runtimes[manifest.runtime];
    if (!adapter) {
      // A load: before any file is downloaded, the worker that has the runtime takes over. An update
      // check (a new version may change runtime) downloads here: the files are only bytes until run.
      if (starting) throw new RuntimeMoved(manifest.runtime);
      return chooseVariant(manifest.variants, typeof request.backends === 'string' ? ALL_BACKENDS : request.backends, request.variant, device);
    }
    return chooseVariant(manifest.variants, orderFor(adapter, request.backends).filter((b) => adapter.backends.includes(b)), request.variant, device);
  };
}

export interface Opened {
  session: GraphSessions;
  info: ModelInfo;
  /** The release's assets by name: the running version's, verified with its graphs. */
  assets: ReadonlyMap<string, Uint8Array>;
}

async function open(resolved: Resolved, request: LoadRequest, runtimes: Runtimes, ctx: ResolveContext, device: Device, threading: Threading): Promise<Opened> {
  const { progress, signal } = ctx;
  // A bare model URL is an ONNX file.
  const runtime = resolved.manifest?.runtime ?? 'onnx';
  const adapter = runtimes[runtime];
  if (!adapter) throw new RuntimeMoved(runtime);
  const requires = resolved.variant === null ? [] : (resolved.manifest?.variants[resolved.variant]?.requires ?? []);
  const order = orderFor(adapter, request.backends);
  // The backends this load could start on, to know which one is its last chance (never skipped by the crash guard).
  const parts = releaseParts(resolved.files, resolved.manifest, resolved.variant);
  // Graphs of a release with several keep their outputs on the device where the backend can (a decode loop).
  const keepOnDevice = parts.graphs.length > 1;
  const candidates = order.filter((b) => adapter.backends.includes(b) && device.get(b)?.ok !== false && unmet(requires, b, device, resolved.variant ?? undefined).length === 0);
  const attempt = async (b: Backend) => {
    if (!adapter.backends.includes(b)) throw new BackendSkipped('unavailable', adapter.unsupported(b));
    const missing = unmet(requires, b, device, resolved.variant ?? undefined);
    if (missing.length > 0) throw new BackendSkipped('unavailable', `variant ${resolved.variant} needs ${missing.join(', ')}, which ${b} here does not offer`);
    const key = [resolved.version ?? '', resolved.variant ?? '', b].join('|');
    const guarded = await guardStart<GraphSessions>(ctx.store, resolved.url, key, candidates.indexOf(b) >= candidates.length - 1, { cleanExitAt: request.cleanExitAt, env: guardEnv() });
    return guarded.run(() => {
      // After the start is marked: a page that dies from here on is caught by the guard next time.
      progress.emit({ phase: 'compile', backend: b });
      const create = () => createGraphs(parts.graphs, (files) => adapter.create(files, b, { threads: threading.threads, onnx: request.onnx, keepOnDevice }));
      if (threading.threads <= 1 || !runsOnWasm(runtime, b)) return create();
      return boundedStart(create, threading, resolved.files.reduce((sum, f) => sum + f.bytes.byteLength, 0), b);
    });
  };
  let tuning: Tuning | undefined;
  let picked;
  if (request.backends === 'fastest') {
    const key = [resolved.version ?? '', resolved.variant ?? '', deviceKey(device)].join('|');
    const fastest = await fastestBackend(order, attempt, tuningRecord(ctx.store, resolved.url, key));
    // No backend started at all: the ordinary walk says why, backend by backend.
    picked = fastest ?? (await firstWorkingBackend(order, attempt, signal));
    tuning = fastest?.tuning;
  } else picked = await firstWorkingBackend(order, attempt, signal);
  const { value: session, backend, fallbacks } = picked;
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
    graphs: session.info(),
    assets: assetInfo(resolved.manifest),
    metadata: resolved.manifest?.metadata ?? {},
    url: resolved.url,
    ...(tuning && { tuning }),
    ...(resolved.rollout && { rollout: resolved.rollout }),
  };
  return { session, info, assets: parts.assets };
}

/**
 * Builds the session while the cached bytes are hashed; `undefined` if they were altered (the
 * version is dropped, and the session released). Any other failure to hash is thrown as it is.
 */
async function openVerified(resolved: Resolved, request: LoadRequest, runtimes: Runtimes, ctx: ResolveContext, device: Device, threading: Threading): Promise<Opened | undefined> {
  const [opening, checking] = await Promise.allSettled([open(resolved, request, runtimes, ctx, device, threading), resolved.verified]);
  if (checking.status === 'rejected') {
    if (opening.status === 'fulfilled') await opening.value.session.release().catch(() => undefined);
    if (checking.reason instanceof CacheMiss) return undefined;
    throw checking.reason;
  }
  if (opening.status === 'rejected') throw opening.reason;
  return opening.value;
}

export interface Started {
  resolved: Resolved;
  opened: Opened;
}

/**
 * Resolves and opens the model: once more if the cached copy turned out altered (now dropped, so the
 * host is asked), and the previous version if a new one's bytes are refused by the runtime (see the
 * file comment).
 */
export async function startModel(request: LoadRequest, runtimes: Runtimes, ctx: ResolveContext, probed: Device | Promise<Device>, threading: Threading): Promise<Started> {
  const { progress, signal } = ctx;
  let resolved = await resolveModel(request.url, request, ctx);
  const device = await probed;
  throwIfAborted(signal);
  let opened: Opened | undefined;
  try {
    opened = await openVerified(resolved, request, runtimes, ctx, device, threading);
    if (!opened) {
      resolved = await resolveModel(request.url, request, ctx);
      opened = await openVerified(resolved, request, runtimes, ctx, device, threading);
    }
  } catch (error) {
    if (!isOndeviceError(error, 'MODEL_INVALID') || resolved.startedBefore) throw error;
    const runtime = typeof error.details['runtimeVersion'] === 'string' ? error.details['runtimeVersion'] : 'unknown';
    const previous = await rollBack(request.url, resolved.version, runtime, request, ctx).catch(() => undefined);
    if (!previous) throw error;
    resolved = { ...previous, updateError: error };
    opened = await openVerified(resolved, request, runtimes, ctx, device, threading);
  }
  if (!opened) throw new OndeviceError('INTEGRITY_MISMATCH', `The cached files of ${request.url} were altered twice in a row while loading; try again.`, { details: { url: request.url } });
  void ranOn(request.url, opened.session.runtimeVersion, ctx).catch(() => undefined);
  progress.emit({ phase: 'ready', backend: opened.info.backend });
  return { resolved, opened };
}

/** @file The onnxruntime-web adapter: loads the smallest ORT build that serves the backend, one session per model. */
import type * as OrtModule from 'onnxruntime-web';
import { OndeviceError } from '../errors.js';
import { checkExternalData } from './onnx-external.js';
import { BackendSkipped } from '../backend/select.js';
import { probeBackend, wasmThreadCount } from '../backend/detect.js';
import type { Backend, OnnxOptions, TensorMap, TensorSpec } from '../types.js';
import type { KeepingResult, KeptValue, ModelFileBytes, RuntimeAdapter, RuntimeSession } from './types.js';
import { runOrt, runOrtKeeping } from './onnx-run.js';

type Ort = typeof OrtModule;

/**
 * onnxruntime-web ships one build per backend family; each carries its own .wasm:
 * `onnxruntime-web/webgpu` (WebGPU + WASM EPs, ~6.7 MB gzipped) and `onnxruntime-web/wasm`
 * (~3.7 MB gzipped). A device that runs on WASM never downloads the WebGPU build; once the WebGPU
 * build is loaded, WASM sessions reuse it rather than fetching a second runtime.
 * Both use `new URL('ort-*.wasm', import.meta.url)`, so bundlers emit the .wasm on the app's origin.
 */
let webGpuOrt: Promise<Ort> | undefined;
let wasmOrt: Promise<Ort> | undefined;

function ortFor(backend: 'webgpu' | 'wasm', threads: number): Promise<Ort> {
  if (backend === 'webgpu') {
    webGpuOrt ??= configure(import('onnxruntime-web/webgpu'), threads).catch((error: unknown) => {
      webGpuOrt = undefined;
      throw error;
    });
    return webGpuOrt;
  }
  if (webGpuOrt) return webGpuOrt;
  return plainWasmOrt(threads);
}

/** The plain WASM build, even where the WebGPU build is loaded (see create: kernels only it has). */
function plainWasmOrt(threads: number): Promise<Ort> {
  wasmOrt ??= configure(import('onnxruntime-web/wasm'), threads).catch((error: unknown) => {
    wasmOrt = undefined;
    throw error;
  });
  return wasmOrt;
}

/**
 * The WebGPU build's WebAssembly lacks some CPU kernels the plain build has (Cast to and from string,
 * StringNormalizer): ORT says it found no implementation. A WASM session refused so by the WebGPU build
 * is created again on the plain build.
 */
const NO_KERNEL = /Could not find an implementation/;

async function configure(module: Promise<Ort>, threads: number): Promise<Ort> {
  const ort = await module;
  ort.env.logLevel = 'error';
  ort.env.wasm.numThreads = threads;
  return ort;
}

/** Identity on one float (78 bytes, made with onnx.helper at opset 13): the smallest session ORT builds. */
const WARM_MODEL = () => Uint8Array.from(atob('CAgSCG9uZGV2aWNlOjoKEAoBeBIBeSIISWRlbnRpdHkSBHdhcm1aDwoBeBIKCggIARIECgIIAWIPCgF5EgoKCAgBEgQKAggBQgQKABAN'), (c) => c.charCodeAt(0));
let warmed: Promise<void> | undefined;

/** ORT status codes that say the bytes themselves are not a usable model, whatever the backend. */
/**
 * What says the model itself cannot run on this runtime, whatever the device: bytes that are not a
 * model, a graph it rejects, an op or type it does not implement (training ops, bfloat16 arithmetic).
 * ORT's codes: 2 INVALID_ARGUMENT, 4 NO_MODEL, 7 INVALID_PROTOBUF, 9 NOT_IMPLEMENTED, 10 INVALID_GRAPH.
 */
const MODEL_ERROR = /ERROR_CODE: (2|4|7|9|10),|Could not find an implementation|is not a registered function\/op|Type Error|[Uu]nsupported data type|are not supported\. If you need support/;

/** The ORT session options for a create: the app's typed settings mapped to ORT's names. */
export function sessionOptions(backend: 'webgpu' | 'wasm', onnx: OnnxOptions = {}, external: readonly ModelFileBytes[] = [], keepOnDevice = false): OrtModule.InferenceSession.SessionOptions {
  return {
    // Outputs stay on the GPU until read or fed to the next graph (a decode loop's cache).
    ...(keepOnDevice && backend === 'webgpu' && { preferredOutputLocation: 'gpu-buffer' as const }),
    executionProviders: [backend],
    graphOptimizationLevel: onnx.graphOptimizationLevel ?? 'all',
    logSeverityLevel: 3,
    // `extra` becomes ORT's session config entries, keys joined with dots: "session.disable_prepacking".
    ...(onnx.disablePrepacking && { extra: { session: { disable_prepacking: '1' } } }),
    ...(external.length > 0 && { externalData: external.map((f) => ({ path: f.path, data: f.bytes })) }),
  };
}

export const onnxRuntime: RuntimeAdapter = {
  backends: ['webgpu', 'wasm'],
  hold: setGpuHold,
  unsupported: (backend) =>
    backend === 'cpu'
      ? "onnxruntime-web runs its CPU kernels as WebAssembly: use 'wasm'"
      : backend === 'webgl'
        ? "onnxruntime-web's WebGL backend is deprecated and not bundled: use 'webgpu' or 'wasm'"
        : `'${backend}' is an onnxruntime-node execution provider: it runs with 'ondevice/node', not in a browser`,
  prepare(backend, options) {
    if (backend !== 'webgpu' && backend !== 'wasm') return;
    const ort = ortFor(backend, options.threads);
    // ORT instantiates its WebAssembly (and, for WebGPU, gets its device) at the first session: a
    // one-node model makes that happen now, while the model's bytes are read. Not for a threaded
    // start, which must stay inside its time bound (see pipeline/threads.ts).
    // On WebGPU the warming session is the one that holds the device (see gpuHold), so the device it
    // gets is the one the model's session uses.
    if (options.threads <= 1) warmed ??= backend === 'webgpu' ? gpuHold.start(ort) : ort.then((o) => o.InferenceSession.create(WARM_MODEL(), { executionProviders: [backend], logSeverityLevel: 3 })).then((s) => s.release(), () => undefined);
    else ort.catch(() => undefined);
  },
  async create(files, backend, options = { threads: wasmThreadCount() }) {
    if (backend !== 'webgpu' && backend !== 'wasm') throw new BackendSkipped('unavailable', this.unsupported(backend));
    const available = await probeBackend(backend);
    if (!available.ok) throw new BackendSkipped('unavailable', available.reason);
    let ort: Ort;
    try {
      ort = await ortFor(backend, options.threads);
    } catch (error) {
      throw new BackendSkipped('unavailable', `loading onnxruntime-web for ${backend} failed: ${message(error)}`);
    }
    const [model, ...external] = files;
    if (!model) throw new OndeviceError('MODEL_INVALID', 'The model has no files.');
    // Only the files the release supplies: a tensor naming any other would be read from elsewhere.
    checkExternalData(model.bytes, external.map((f) => f.path), model.path, { backend, runtimeVersion: runtimeVersion(ort) });
    // Two sessions created at once while ORT initialises its backend race (WebGPU's device above
    // all): the model's waits for the warming one to finish.
    await warmed;
    let session: OrtModule.InferenceSession;
    try {
      // On WebGPU a create awaits the GPU too (see serialized); a WASM one is not queued, so a threaded
      // start that stalls (pipeline/threads.ts) never blocks the calls after it.
      const create = () => ort.InferenceSession.create(model.bytes, sessionOptions(backend, options.onnx, external, options.keepOnDevice));
      if (backend === 'webgpu') {
        gpuHold.sessions++;
        try {
          await gpuHold.start(Promise.resolve(ort));
          session = await serialized(create);
        } catch (error) {
          gpuHold.ended();
          throw error;
        }
      } else {
        try {
          session = await create();
        } catch (error) {
          if (ort === (await webGpuOrt?.catch(() => undefined)) && NO_KERNEL.test(message(error))) {
            ort = await plainWasmOrt(options.threads);
            session = await create();
          } else throw error;
        }
      }
    } catch (error) {
      const text = message(error);
      if (MODEL_ERROR.test(text)) {
        throw new OndeviceError('MODEL_INVALID', `onnxruntime-web cannot load this model: ${text}. It needs an op or a type this runtime does not implement, or its bytes are not a valid ONNX model: re-export it for this runtime (another opset, float32 instead of bfloat16, no training ops).`, {
          details: { backend, runtimeMessage: text, runtimeVersion: runtimeVersion(ort) },
          cause: error,
        });
      }
      throw new BackendSkipped('failed', `creating the session failed: ${text}`);
    }
    return new OnnxSession(ort, session, backend === 'webgpu');
  },
};

/**
 * Every call into onnxruntime-web in this context, one at a time. Not per session: a WebGPU run awaits
 * the GPU halfway through (its WebAssembly suspended), and a run of another session that starts
 * meanwhile corrupts the shared WebAssembly memory ("memory access out of bounds"). The graphs of one
 * model (a decode loop interleaving two sequences) and two models in one worker both meet this.
 */
let ortQueue: Promise<unknown> = Promise.resolve();
function serialized<T>(call: () => Promise<T>): Promise<T> {
  const result = ortQueue.then(call);
  ortQueue = result.catch(() => undefined);
  return result;
}

/**
 * onnxruntime-web's WebGPU device, and every pipeline it compiled, live in a context that ORT frees
 * when the last WebGPU session of this JavaScript context is released. A model loaded again (a
 * `reload()`, a dispose and load, `fastest` starting the winner, an app switching models) would get
 * a new device and compile every shader again: seconds on a slow GPU (docs/decisions.md, "WebGPU
 * pipelines outlive a session by the linger"). A one-node session holds the context while any
 * WebGPU session lives and for `GPU_HOLD_MS` after the last, like the library's worker itself.
 */
export const GPU_HOLD_MS = 2000;
let gpuHoldMs = GPU_HOLD_MS;

/** @internal For tests: how long the context outlives its last session (`undefined`: the default). */
export function setGpuHold(ms: number | undefined): void {
  gpuHoldMs = ms ?? GPU_HOLD_MS;
}

/** @internal For tests: whether this JavaScript context holds onnxruntime-web's WebGPU context now. */
export function gpuContextHeld(): boolean {
  return gpuHold.holder !== undefined;
}

const gpuHold = {
  /** The holding session; undefined when its create failed (nothing is held then). */
  holder: undefined as Promise<OrtModule.InferenceSession | undefined> | undefined,
  /** The model sessions on WebGPU that are open (or being created). */
  sessions: 0,
  timer: undefined as ReturnType<typeof setTimeout> | undefined,
  /** Holds the context (once), and cancels a pending release. */
  start(ort: Promise<Ort>): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.holder ??= ort.then((o) => serialized(() => o.InferenceSession.create(WARM_MODEL(), { executionProviders: ['webgpu'], logSeverityLevel: 3 }))).catch(() => undefined);
    // Held by nothing yet (a prepare() whose model never comes): released after the linger too.
    if (this.sessions === 0) this.ended(0);
    return this.holder.then(() => undefined);
  },
  /** A WebGPU session was released (or failed to start): the last one starts the countdown. */
  ended(count = 1): void {
    this.sessions -= count;
    if (this.sessions > 0 || !this.holder) return;
    clearTimeout(this.timer);
    const holder = this.holder;
    this.timer = setTimeout(() => {
      if (this.holder === holder) void this.letGo();
    }, gpuHoldMs);
  },
  /** Releases the holding session, unless a WebGPU session is open. */
  async letGo(): Promise<void> {
    const holder = this.holder;
    if (this.sessions > 0 || !holder) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.holder = undefined;
    await holder.then((h) => (h ? serialized(() => h.release()) : undefined)).catch(() => undefined);
  },
};

/** @internal For tests: lets the held WebGPU context go now (unless a WebGPU session is open). */
export function releaseGpuHold(): Promise<void> {
  return gpuHold.letGo();
}

class OnnxSession implements RuntimeSession {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  #ort: Ort;
  #session: OrtModule.InferenceSession;

  readonly runtimeVersion: string;
  #onGpu: boolean;

  constructor(ort: Ort, session: OrtModule.InferenceSession, onGpu: boolean) {
    this.#ort = ort;
    this.#onGpu = onGpu;
    this.runtimeVersion = runtimeVersion(ort);
    this.#session = session;
    this.inputs = specs(session.inputNames, session.inputMetadata);
    this.outputs = specs(session.outputNames, session.outputMetadata);
  }

  run(inputs: TensorMap): Promise<TensorMap> {
    // onnxruntime-web does not allow two run() calls on one session at once: queue them.
    return serialized(() => this.#runNow(inputs));
  }

  #runNow(inputs: TensorMap): Promise<TensorMap> {
    return runOrt(this.#ort, this.#session, inputs, 'onnxruntime-web');
  }

  runKeeping(inputs: TensorMap, kept: Readonly<Record<string, KeptValue>>, keep: true | readonly string[]): Promise<KeepingResult> {
    return serialized(() => runOrtKeeping(this.#ort, this.#session, inputs, kept, keep, 'onnxruntime-web', serialized));
  }

  async release(): Promise<void> {
    try {
      await serialized(() => this.#session.release());
    } finally {
      if (this.#onGpu) {
        this.#onGpu = false;
        gpuHold.ended();
      }
    }
  }
}

/** Inputs or outputs as ORT (web or node: the same onnxruntime-common types) describes them. */
export function specs(names: readonly string[], metadata: readonly OrtModule.InferenceSession.ValueMetadata[] | undefined): TensorSpec[] {
  return names.map((name, i) => {
    const meta = metadata?.[i];
    return meta?.isTensor ? { name, type: meta.type, dims: meta.shape.map(freeDim) } : { name, type: 'unknown', dims: [] };
  });
}

/**
 * Some exporters leave a dimension with neither a size nor a name. onnxruntime-web reports it as
 * 4294967295 (an unsigned -1), onnxruntime-node as '', other tools as -1 or 0: each is a free
 * dimension, shown with a generated name (`d<index>`) like every named one, so validation lets any
 * size through (the runtime still checks the shapes its kernels need).
 */
export function freeDim(dim: number | string, index: number): number | string {
  if (typeof dim === 'string') return dim === '' ? `d${index}` : dim;
  return dim <= 0 || dim >= 2 ** 31 ? `d${index}` : dim;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `onnxruntime-web <version>`, for bans tied to the runtime (see update/from-cache.ts). */
function runtimeVersion(ort: Ort): string {
  return `onnxruntime-web ${ort.env.versions?.web ?? ort.env.versions?.common ?? 'unknown'}`;
}

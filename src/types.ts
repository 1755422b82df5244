/** @file The public data types: tensors, load options, progress events and model info. */

/** Where a model runs. */
export type Backend = 'webgpu' | 'wasm' | 'webgl' | 'cpu';

/** `'auto'`, one backend, or an ordered list of backends to try. */
export type BackendPreference = 'auto' | Backend | readonly Backend[];

/** Element types a tensor may have, with the typed array that holds each. */
export interface TensorDataTypes {
  float32: Float32Array;
  float64: Float64Array;
  /** IEEE half floats, as their raw 16-bit patterns. */
  float16: Uint16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  /** One byte per element, 0 or 1. */
  bool: Uint8Array;
}

export type TensorType = keyof TensorDataTypes;

/**
 * A tensor as it crosses the API: element type, a typed array in row-major order, and its shape.
 *
 * @example { type: 'float32', data: new Float32Array(64), dims: [1, 1, 8, 8] }
 */
export type Tensor = {
  [T in TensorType]: { type: T; data: TensorDataTypes[T]; dims: readonly number[] };
}[TensorType];

/** Tensors by input or output name. */
export type TensorMap = Record<string, Tensor>;

/** An input or output as the model declares it. Named dimensions (`'batch'`) are free. */
export interface TensorSpec {
  name: string;
  type: string;
  dims: ReadonlyArray<number | string>;
}

/** A backend that was tried, or skipped, before the one that runs, and why. */
export interface BackendFallback {
  backend: Backend;
  reason: string;
}

export interface ModelInfo {
  /** The manifest's `name`, or the file name for a bare model URL. */
  name: string;
  /** The manifest's `version`, or the model file's ETag for a bare URL (`null` without one). */
  version: string | null;
  /** The manifest variant that was loaded (`null` for a bare model URL). */
  variant: string | null;
  runtime: 'onnx';
  /** The backend that runs the model. */
  backend: Backend;
  /** Backends tried or skipped before `backend`, in order, each with the reason. */
  fallbacks: readonly BackendFallback[];
  /** Whether the model's bytes came from the device's cache rather than the network. */
  fromCache: boolean;
  inputs: readonly TensorSpec[];
  outputs: readonly TensorSpec[];
  /** The manifest's `metadata` (labels, …); `{}` for a bare model URL. */
  metadata: Readonly<Record<string, unknown>>;
  /** The absolute URL the model was loaded from. */
  url: string;
}

/**
 * Progress of a load, as a discriminated union on `phase`.
 * Phases arrive in order: `manifest` (when a manifest is used), `download`, `verify`, `compile`, `ready`.
 * `download` events are throttled; `loaded` only grows, `total` stays the same for a load, and an event
 * with `loaded === total` arrives only once every byte is in.
 */
export type LoadProgress =
  | { phase: 'manifest'; url: string }
  | {
      phase: 'download';
      /** The file being downloaded. */
      url: string;
      /** Bytes received so far, over all the files of the model. */
      loaded: number;
      /** Bytes expected over all files: from the manifest, else `Content-Length`; `null` if unknown. */
      total: number | null;
    }
  | { phase: 'verify'; url: string }
  | { phase: 'compile'; backend: Backend }
  | { phase: 'ready'; backend: Backend };

export type LoadPhase = LoadProgress['phase'];

export interface LoadOptions {
  /**
   * Backends to try, in order. `'auto'` tries WebGPU (only when a real adapter can be obtained) and
   * then WebAssembly. An explicit list is tried in the order given; the first that works is used.
   * @default 'auto'
   * @example backend: ['webgpu', 'wasm']
   */
  backend?: BackendPreference;
  /**
   * Run download, session creation and inference in a dedicated module Worker (`true`), in the
   * caller's thread (`false`), or in a Worker the app created that imports `ondevice/worker`.
   * @default true where `Worker` exists, else false
   * @example worker: new Worker(new URL('./ml-worker.js', import.meta.url), { type: 'module' })
   */
  worker?: boolean | Worker;
  /**
   * Called with each progress event of the load.
   * @example onProgress: (e) => { if (e.phase === 'download' && e.total) bar.value = e.loaded / e.total; }
   */
  onProgress?: (event: LoadProgress) => void;
  /**
   * Cancels the load, downloads included; the promise rejects with `ABORTED`.
   * @example signal: AbortSignal.timeout(30_000)
   */
  signal?: AbortSignal;
}

export interface Model {
  readonly info: ModelInfo;
  /**
   * Runs the model. In worker mode the inputs' buffers are transferred to the worker (the caller's
   * arrays are detached afterwards; pass `data.slice()` to keep a copy). Outputs arrive by name.
   */
  run(inputs: TensorMap): Promise<TensorMap>;
  /** Releases the session; later `run` calls reject with `DISPOSED`. Safe to call twice. */
  dispose(): Promise<void>;
}

/** @file The one small interface every runtime (onnxruntime-web, TF.js) implements. */
import type { Availability } from '../backend/detect.js';
import type { Backend, OnnxOptions, Tensor, TensorMap, TensorSpec, TensorType } from '../types.js';

export type { ModelFileBytes } from '../cache/files.js';
import type { ModelFileBytes } from '../cache/files.js';

/**
 * An output kept where the model runs (an onnxruntime tensor, on the GPU where the runtime put it).
 * Only the host's ref registry holds these; nothing crosses the worker boundary but its id.
 */
export interface KeptValue {
  readonly type: TensorType;
  readonly dims: readonly number[];
  /** Where its data is: in memory where the model runs, or in a GPU buffer. */
  readonly location: 'cpu' | 'gpu-buffer';
  /** Its data, copied out; the value stays usable. */
  read(): Promise<Tensor>;
  /** Frees what it holds (a GPU buffer); later use is refused by the registry before it gets here. */
  dispose(): void;
}

/** A run with kept values: the outputs with data, and the kept ones by name. */
export interface KeepingResult {
  outputs: TensorMap;
  kept: Record<string, KeptValue>;
}

export interface RuntimeSession {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** Runs one inference; calls on one session are served one at a time, in order. */
  run(inputs: TensorMap): Promise<TensorMap>;
  release(): Promise<void>;
  /**
   * Runs with some inputs given as values kept by earlier runs (of any session of the same model) and
   * keeps the outputs named in `keep` (`true`: all). Absent: this runtime keeps nothing (TF.js).
   */
  runKeeping?(inputs: TensorMap, kept: Readonly<Record<string, KeptValue>>, keep: true | readonly string[]): Promise<KeepingResult>;
  /** The runtime and its version (`onnxruntime-web 1.30.0`): a version banned here as not a model is tried again under another. */
  readonly runtimeVersion?: string;
}

/** How a session is to be created, decided by the host. */
export interface CreateOptions {
  /**
   * WASM threads to ask for (1: one thread). A runtime sets this when it first starts in a context;
   * after that the context keeps what it started with.
   */
  threads: number;
  /** onnxruntime-web session settings, already validated. */
  onnx?: OnnxOptions | undefined;
  /**
   * The session is one graph of a release with several (a decode loop): on WebGPU its outputs stay
   * on the GPU (onnxruntime-web's `preferredOutputLocation: 'gpu-buffer'`) until read or fed back.
   */
  keepOnDevice?: boolean | undefined;
}

export interface RuntimeAdapter {
  /** The backends this runtime runs on, in the order `'auto'` tries them. */
  readonly backends: readonly Backend[];
  /** Why this runtime does not run on `backend`, one it does not list (for `info.fallbacks`). */
  unsupported(backend: Backend): string;
  /**
   * Creates a session on exactly `backend` (no silent fallback inside the runtime). Throws
   * `BackendSkipped` when the backend is unavailable or cannot create this session.
   */
  create(files: readonly ModelFileBytes[], backend: Backend, options?: CreateOptions): Promise<RuntimeSession>;
  /**
   * Starts loading what `create` on `backend` will need (the runtime's code), so that it arrives while
   * the model's bytes are read. Never throws; `create` reports any failure.
   */
  prepare?(backend: Backend, options: CreateOptions): void;
  /**
   * Whether `backend` works here, for the backends only this runtime knows (onnxruntime-node's
   * providers); the host probes the others itself (WebGPU's adapter, WebGL, WASM).
   */
  probe?(backend: Backend): Promise<Availability>;
  /**
   * How long the runtime keeps its device context (WebGPU's, with every pipeline it compiled) after
   * its last session is released; `undefined`: its default. A library worker holds it as long as the
   * page keeps that worker lingering (worker/client.ts).
   */
  hold?(ms: number | undefined): void;
}

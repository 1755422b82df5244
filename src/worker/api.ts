/** @file The one contract between the page and the worker. Everything that crosses it is plain data. */
import type { LoadRequest, LoadResult, ModelEventListener, ReloadResult } from '../pipeline/host.js';
import type { LoadProgress, ModelStats, Tensor, UpdateCheckResult } from '../types.js';
import type { WireRef, WireRunOptions, WireTensors } from '../pipeline/refs.js';
import type { WireGenerateOptions } from '../pipeline/generate.js';

export interface WorkerApi {
  /**
   * Resolves once the worker holds the Web Lock `lockName` for its whole life, so the page can
   * tell when it dies: the lock is released only then.
   */
  hello(lockName: string): Promise<void>;
  /** Loads a model here, or answers `moved` when its runtime lives in another worker. */
  load(
    request: LoadRequest,
    loadId: string,
    onProgress: ((event: LoadProgress) => unknown) | undefined,
    /** Kept for the model's life, released by `dispose`. */
    onEvent: ModelEventListener | undefined,
  ): Promise<LoadResult>;
  /** Aborts the load or generate call `callId` (an AbortSignal cannot cross postMessage). */
  abort(callId: string): void;
  run(id: number, inputs: WireTensors, options?: WireRunOptions): Promise<WireTensors>;
  /** A decode loop run here; each token is told to `onToken` as it is chosen, without waiting for it. */
  generate(id: number, inputs: WireTensors, options: WireGenerateOptions, callId: string, onToken: ((token: number, index: number) => unknown) | undefined): Promise<number[]>;
  read(id: number, ref: WireRef): Promise<Tensor>;
  release(id: number, refs: readonly number[]): Promise<void>;
  asset(id: number, name: string): Promise<Uint8Array>;
  checkForUpdate(id: number): Promise<UpdateCheckResult>;
  reload(id: number): Promise<ReloadResult>;
  stats(id: number): Promise<ModelStats>;
  dispose(id: number): Promise<void>;
  /** Resolves once no load, reload or update check is in flight (an aborted load may still be saving what it received). */
  drain(): Promise<void>;
  /** How long this worker's runtimes keep a device context after their last session: the page's linger for it (`undefined`: the default). */
  hold(ms: number | undefined): void;
}

/** @file The one contract between the page and the worker. Everything that crosses it is plain data. */
import type { LoadRequest, LoadResult } from '../pipeline/host.js';
import type { LoadProgress, ModelInfo, TensorMap, UpdateCheckResult, UpdateInfo } from '../types.js';

export interface WorkerApi {
  /**
   * Resolves once the worker holds the Web Lock `lockName` for its whole life, so the page can
   * tell when it dies: the lock is released only then.
   */
  hello(lockName: string): Promise<void>;
  load(
    request: LoadRequest,
    loadId: string,
    onProgress: ((event: LoadProgress) => unknown) | undefined,
    /** Kept for the model's life, released by `dispose`. */
    onUpdate: ((info: UpdateInfo) => unknown) | undefined,
  ): Promise<LoadResult>;
  /** Aborts the load `loadId` (an AbortSignal cannot cross postMessage). */
  abort(loadId: string): void;
  run(id: number, inputs: TensorMap): Promise<TensorMap>;
  checkForUpdate(id: number): Promise<UpdateCheckResult>;
  reload(id: number): Promise<ModelInfo>;
  dispose(id: number): Promise<void>;
  /** Resolves once no load is in flight (an aborted one may still be saving what it received). */
  drain(): Promise<void>;
}

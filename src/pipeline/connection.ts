/** @file How a Model reaches its host: directly in this thread, or through a worker. */
import type { LoadControls, LoadRequest, LoadResult, ReloadResult } from './host.js';
import type { ModelStats, TensorMap, UpdateCheckResult } from '../types.js';

export interface HostConnection {
  load(request: LoadRequest, controls: LoadControls): Promise<LoadResult>;
  run(id: number, inputs: TensorMap): Promise<TensorMap>;
  checkForUpdate(id: number): Promise<UpdateCheckResult>;
  reload(id: number): Promise<ReloadResult>;
  stats(id: number): Promise<ModelStats>;
  dispose(id: number): Promise<void>;
  /** The model that held this connection is gone (disposed, or its load failed or moved). */
  release(): void;
  /** Ends a worker the library owns that can no longer serve (see pipeline/threads.ts); other hosts ignore it. */
  abandon?(why: string): void;
}

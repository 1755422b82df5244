/** @file How a Model reaches its host: directly in this thread, or through a worker. */
import type { LoadControls, LoadRequest, LoadResult, ModelHost, ReloadResult } from './host.js';
import type { ModelStats, Tensor, UpdateCheckResult } from '../types.js';
import type { WireRef, WireRunOptions, WireTensors } from './refs.js';
import type { GenerateControls, WireGenerateOptions } from './generate.js';

export interface HostConnection {
  load(request: LoadRequest, controls: LoadControls): Promise<LoadResult>;
  run(id: number, inputs: WireTensors, options?: WireRunOptions): Promise<WireTensors>;
  generate(id: number, inputs: WireTensors, options: WireGenerateOptions, controls: Omit<GenerateControls, 'onStep'>): Promise<number[]>;
  read(id: number, ref: WireRef): Promise<Tensor>;
  release(id: number, refs: readonly number[]): Promise<void>;
  asset(id: number, name: string): Promise<Uint8Array>;
  checkForUpdate(id: number): Promise<UpdateCheckResult>;
  reload(id: number): Promise<ReloadResult>;
  stats(id: number): Promise<ModelStats>;
  dispose(id: number): Promise<void>;
  /** The model that held this connection is gone (disposed, or its load failed or moved). */
  close(): void;
  /** Ends a worker the library owns that can no longer serve (see pipeline/threads.ts); other hosts ignore it. */
  abandon?(why: string): void;
}

/** A host called in this thread (`worker: false`, and `ondevice/node`). */
export function directConnection(host: ModelHost): HostConnection {
  return {
    load: (request, controls) => host.load(request, controls),
    run: (id, inputs, options) => host.run(id, inputs, options),
    generate: (id, inputs, options, controls) => host.generate(id, inputs, options, controls),
    read: (id, ref) => host.read(id, ref),
    release: (id, refs) => host.release(id, refs),
    asset: (id, name) => host.asset(id, name),
    checkForUpdate: (id) => host.checkForUpdate(id),
    reload: (id) => host.reload(id),
    stats: (id) => host.stats(id),
    dispose: (id) => host.dispose(id),
    close: () => undefined,
  };
}

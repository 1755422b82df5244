/**
 * @file Kept outputs where the model runs: one registry per loaded model, mapping the ids that cross
 * the worker boundary to the runtime's values. Only this file knows what a ref id stands for; a ref is
 * refused once released, and after its model's `reload()` or `dispose()` (which release them all).
 */
import { OndeviceError } from '../errors.js';
import type { KeptValue } from '../runtime/types.js';
import type { Tensor, TensorMap, TensorType } from '../types.js';

/** A kept output as it crosses the worker boundary: its id, type and shape, never its data. */
export interface WireRef {
  kept: true;
  ref: number;
  type: TensorType;
  dims: readonly number[];
  location: 'cpu' | 'gpu-buffer';
}

export type WireTensors = Record<string, Tensor | WireRef>;

/** `run()`'s options as they cross the boundary (`keep: false` is sent as absent). */
export interface WireRunOptions {
  graph?: string | undefined;
  keep?: true | readonly string[] | undefined;
  /** Refs the app disposed since its last call, freed before this run (a decode loop frees each step's cache with no message of its own). */
  release?: readonly number[] | undefined;
}

export function isWireRef(value: unknown): value is WireRef {
  return typeof value === 'object' && value !== null && (value as { kept?: unknown }).kept === true;
}

/** Ids are unique in the host, so a ref of one model is never another's by accident. */
let nextRef = 1;

export class RefRegistry {
  #values = new Map<number, KeptValue>();
  #cleared = 0;

  /** How many times `clear()` ran (a reload or dispose): work that holds kept values checks it did not change. */
  get generation(): number {
    return this.#cleared;
  }

  /** Registers a kept value and returns what crosses the boundary for it. */
  add(value: KeptValue): WireRef {
    const ref = nextRef++;
    this.#values.set(ref, value);
    return { kept: true, ref, type: value.type, dims: value.dims, location: value.location };
  }

  /** The value of `ref`, given as input `input`; `INPUT_INVALID` if this model does not hold it. */
  get(ref: WireRef, input: string): KeptValue {
    const value = this.#values.get(ref.ref);
    if (!value) {
      throw new OndeviceError('INPUT_INVALID', `Input "${input}" is a kept output this model no longer holds: it was disposed, belongs to another model, or was kept before reload(). Pass a ref kept by this model since its last reload.`, {
        details: { input, reason: 'ref-unknown' },
      });
    }
    return value;
  }

  /** Its data, copied out. */
  read(ref: WireRef): Promise<Tensor> {
    return this.get(ref, '(read)').read();
  }

  release(refs: readonly number[]): void {
    for (const ref of refs) {
      this.#values.get(ref)?.dispose();
      this.#values.delete(ref);
    }
  }

  clear(): void {
    this.#cleared++;
    this.release([...this.#values.keys()]);
  }

  get size(): number {
    return this.#values.size;
  }
}

/** Splits a run's inputs into tensors with data and the kept values the refs stand for. */
export function splitInputs(inputs: WireTensors, refs: RefRegistry): { tensors: TensorMap; kept: Record<string, KeptValue> } {
  const tensors: TensorMap = {};
  const kept: Record<string, KeptValue> = {};
  for (const [name, value] of Object.entries(inputs)) {
    if (isWireRef(value)) kept[name] = refs.get(value, name);
    else tensors[name] = value;
  }
  return { tensors, kept };
}

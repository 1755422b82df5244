/**
 * @file The app's side of kept outputs: `TensorRef` objects, each tied to the model, and the reload
 * generation, that made it. Their ids live in a WeakMap only this file reads, so a ref cannot be
 * forged, and one from another model or from before a `reload()` is told apart before anything is sent.
 */
import { OndeviceError } from './errors.js';
import type { WireRef } from './pipeline/refs.js';
import type { TensorRef, TensorType } from './types.js';

interface Handle {
  owner: object;
  generation: number;
  wire: WireRef;
  disposed: boolean;
}

const handles = new WeakMap<TensorRef, Handle>();

/** Makes the app's ref for a kept output; `free` releases it where the model runs. */
export function makeRef(owner: object, generation: number, wire: WireRef, free: (ref: number) => Promise<void>): TensorRef {
  const handle: Handle = { owner, generation, wire, disposed: false };
  const ref: TensorRef = Object.freeze({
    type: wire.type as TensorType,
    dims: Object.freeze([...wire.dims]),
    kept: true as const,
    location: wire.location,
    async dispose() {
      if (handle.disposed) return;
      handle.disposed = true;
      await free(wire.ref).catch(() => undefined);
    },
  });
  handles.set(ref, handle);
  return ref;
}

export function isTensorRef(value: unknown): value is TensorRef {
  return typeof value === 'object' && value !== null && (value as { kept?: unknown }).kept === true;
}

/**
 * What crosses to the host for `ref`, given as input `input`: `INPUT_INVALID` if it was disposed, is
 * not one ondevice made, is another model's, or predates the model's last reload.
 */
export function wireOf(ref: TensorRef, input: string, owner: object, generation: number): WireRef {
  const handle = handles.get(ref);
  const why = !handle
    ? 'is not a TensorRef made by ondevice (pass the object run() returned)'
    : handle.owner !== owner
      ? 'is a kept output of another model; a ref is an input of the model that kept it'
      : handle.generation !== generation
        ? 'was kept before reload(), which freed it; run again to keep a new one'
        : handle.disposed
          ? 'was disposed'
          : undefined;
  if (why) throw new OndeviceError('INPUT_INVALID', `Input "${input}" ${why}.`, { details: { input, reason: 'ref-invalid' } });
  return handle!.wire;
}

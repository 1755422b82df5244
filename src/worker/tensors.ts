/** @file Moves tensors across postMessage by transferring their buffers instead of copying them. */
import type { Tensor } from '../types.js';
import { isWireRef, type WireRef } from '../pipeline/refs.js';

/**
 * Returns the tensors to send and the buffers to transfer. A view that covers its whole
 * ArrayBuffer is sent as is (its buffer moves, the sender's array is detached); a view into a
 * larger buffer is copied first so unrelated memory is neither sent nor detached. `buffers` holds
 * those another call already chose for the same message (a buffer may be listed only once).
 */
export function forTransfer<T extends Record<string, Tensor | WireRef>>(tensors: T, buffers = new Set<ArrayBuffer>()): [T, Transferable[]] {
  const out: Record<string, Tensor | WireRef> = {};
  for (const [name, tensor] of Object.entries(tensors)) {
    // Strings have no buffer to hand over: structured clone copies them; a kept output has no data here.
    if (isWireRef(tensor) || tensor.type === 'string') {
      out[name] = tensor;
      continue;
    }
    let data = tensor.data;
    const buffer = data.buffer;
    const whole = buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === buffer.byteLength;
    if (!whole || buffers.has(buffer as ArrayBuffer)) data = data.slice() as typeof data;
    buffers.add(data.buffer as ArrayBuffer);
    out[name] = { ...tensor, data } as Tensor;
  }
  return [out as T, [...buffers]];
}

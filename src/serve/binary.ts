/**
 * @file The protocol's binary tensor data extension (Triton's, which tritonclient uses by default): a
 * request body is its JSON header (`Inference-Header-Content-Length` bytes) followed by the raw bytes
 * of the inputs that say `"parameters": { "binary_data_size": n }`, in order; a response does the same
 * for the outputs asked for with `"binary_data": true`. Raw bytes are little-endian, row-major; BOOL is
 * one byte; FP16 is IEEE half bits. No JSON number formatting or parsing for the tensors at all.
 * https://github.com/triton-inference-server/server/blob/main/docs/protocol/extension_binary_data.md
 */
import type { Tensor, TensorType } from '../types.js';
import { HttpError } from './http-error.js';

export const HEADER = 'inference-header-content-length';

/** Bytes an element takes (BYTES, the protocol's strings, are each a 4-byte little-endian length and that many UTF-8 bytes). */
const BYTES: Record<Exclude<TensorType, 'string'>, number> = { bool: 1, uint8: 1, int8: 1, uint16: 2, int16: 2, float16: 2, uint32: 4, int32: 4, float32: 4, uint64: 8, int64: 8, float64: 8 };
const ARRAYS = {
  bool: Uint8Array,
  uint8: Uint8Array,
  int8: Int8Array,
  uint16: Uint16Array,
  int16: Int16Array,
  float16: Uint16Array,
  uint32: Uint32Array,
  int32: Int32Array,
  float32: Float32Array,
  uint64: BigUint64Array,
  int64: BigInt64Array,
  float64: Float64Array,
} as const;

/** The JSON header and the binary part of a body; without the header the whole body is JSON. */
export function splitBody(body: Buffer, headerLength: string | undefined): { json: Buffer; binary: Buffer | undefined } {
  if (headerLength === undefined) return { json: body, binary: undefined };
  const n = Number(headerLength);
  if (!Number.isSafeInteger(n) || n < 0 || n > body.length) {
    throw new HttpError(400, `Inference-Header-Content-Length must be the JSON header's length, at most the body's ${body.length} bytes; got ${JSON.stringify(headerLength)}.`);
  }
  return { json: body.subarray(0, n), binary: body.subarray(n) };
}

/** Reads the binary inputs one after another. */
export class BinaryReader {
  #offset = 0;
  constructor(private readonly bytes: Buffer | undefined) {}

  /** The next `size` bytes as a tensor of `type` with `count` elements. */
  take(name: string, type: TensorType, size: unknown, count: number): Tensor['data'] {
    if (!this.bytes) throw new HttpError(400, `Input "${name}" has "binary_data_size", but the request has no binary part: send the Inference-Header-Content-Length header.`);
    if (!Number.isSafeInteger(size) || (size as number) < 0) throw new HttpError(400, `Input "${name}": "binary_data_size" must be a byte count.`);
    if (type === 'string') return this.#strings(name, size as number, count);
    const expected = count * BYTES[type];
    if (size !== expected) throw new HttpError(400, `Input "${name}": its shape and datatype make ${expected} bytes, but "binary_data_size" says ${String(size)}.`);
    if (this.#offset + expected > this.bytes.length) throw new HttpError(400, `Input "${name}": the binary part ends ${this.#offset + expected - this.bytes.length} bytes short.`);
    // Copied into a buffer of its own: aligned for the typed array, and not a view into the request.
    const copy = new Uint8Array(expected);
    copy.set(this.bytes.subarray(this.#offset, this.#offset + expected));
    this.#offset += expected;
    return new ARRAYS[type](copy.buffer) as Tensor['data'];
  }

  /** `count` BYTES elements in the next `size` bytes: each a 4-byte little-endian length, then its UTF-8 bytes. */
  #strings(name: string, size: number, count: number): string[] {
    const bytes = this.bytes!;
    const end = this.#offset + size;
    if (end > bytes.length) throw new HttpError(400, `Input "${name}": the binary part ends ${end - bytes.length} bytes short.`);
    const decoder = new TextDecoder('utf-8', { fatal: true });
    const out: string[] = [];
    let at = this.#offset;
    for (let i = 0; i < count; i++) {
      if (at + 4 > end) throw new HttpError(400, `Input "${name}": "binary_data_size" ${size} holds ${i} of its ${count} BYTES elements.`);
      const length = bytes.readUInt32LE(at);
      if (at + 4 + length > end) throw new HttpError(400, `Input "${name}": BYTES element ${i} says ${length} bytes, past the input's "binary_data_size".`);
      try {
        out.push(decoder.decode(bytes.subarray(at + 4, at + 4 + length)));
      } catch {
        throw new HttpError(400, `Input "${name}": BYTES element ${i} is not UTF-8 text.`);
      }
      at += 4 + length;
    }
    if (at !== end) throw new HttpError(400, `Input "${name}": its ${count} BYTES elements take ${at - this.#offset} bytes, but "binary_data_size" says ${size}.`);
    this.#offset = end;
    return out;
  }

  /** Bytes sent that no input claimed are a malformed request. */
  finish(): void {
    const extra = (this.bytes?.length ?? 0) - this.#offset;
    if (extra > 0) throw new HttpError(400, `The binary part has ${extra} bytes that no input's "binary_data_size" claims.`);
  }
}

/** A tensor's raw bytes (little-endian on every platform Node runs on). */
export function tensorBytes(t: Tensor): Uint8Array {
  if (t.type === 'string') {
    const encoded = t.data.map((text) => Buffer.from(text, 'utf8'));
    const out = Buffer.alloc(encoded.reduce((n, b) => n + 4 + b.length, 0));
    let at = 0;
    for (const b of encoded) {
      out.writeUInt32LE(b.length, at);
      b.copy(out, at + 4);
      at += 4 + b.length;
    }
    return out;
  }
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

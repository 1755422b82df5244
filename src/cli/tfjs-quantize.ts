/// <reference types="node" />
/**
 * @file `ondevice quantize` for TF.js models: float32 weights stored as float16, uint8 or uint16 in
 * TF.js's own `quantization` format (what tfjs-converter writes), which TF.js dequantizes back to
 * float32 when it loads the model. The model computes in float32 as before; only the download shrinks.
 * - float16: IEEE half floats.
 * - uint8 / uint16: affine per tensor, value = q × scale + min, with min and scale chosen so that
 *   the tensor's smallest and largest values are exact ends of the range.
 * Int32 and bool weights, and weights already quantized, are copied as they are.
 */
import { describedBytes, readArtifacts, type WeightSpec } from '../runtime/tfjs/artifacts.js';
import { CliError } from './cli-error.js';
import { toFloat16Bits } from '../tensor/float16.js';
import type { TfjsVariant } from './tfjs-model.js';

export type TfjsQuantizeTarget = 'fp16' | 'uint8' | 'uint16';

export const TFJS_TARGETS: readonly TfjsQuantizeTarget[] = ['fp16', 'uint8', 'uint16'];

export interface TfjsQuantized {
  /** model.json, naming the one new shard. */
  json: Record<string, unknown>;
  shard: { path: string; bytes: Uint8Array };
  /** Weights converted. */
  tensors: string[];
}

/** One weight's stored bytes in its new form, and its new spec. */
function convert(spec: WeightSpec, values: Float32Array, to: TfjsQuantizeTarget): { spec: WeightSpec; bytes: Uint8Array } {
  if (to === 'fp16') {
    const bits = Uint16Array.from(values, toFloat16Bits);
    return { spec: { ...spec, quantization: { dtype: 'float16' } }, bytes: new Uint8Array(bits.buffer) };
  }
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  if (values.length === 0) min = max = 0;
  const levels = to === 'uint8' ? 255 : 65535;
  const scale = max > min ? (max - min) / levels : 1;
  const q = to === 'uint8' ? new Uint8Array(values.length) : new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) q[i] = Math.max(0, Math.min(levels, Math.round((values[i]! - min) / scale)));
  return { spec: { ...spec, quantization: { dtype: to, scale, min } }, bytes: new Uint8Array(q.buffer) };
}

function joined(buffers: readonly ArrayBuffer[]): Uint8Array {
  const out = new Uint8Array(buffers.reduce((n, b) => n + b.byteLength, 0));
  let offset = 0;
  for (const b of buffers) {
    out.set(new Uint8Array(b), offset);
    offset += b.byteLength;
  }
  return out;
}

/** Quantizes every float32 weight of `model`; the weights go to one shard named `shardName`. */
export function quantizeTfjs(model: TfjsVariant, to: TfjsQuantizeTarget, shardName: string): TfjsQuantized {
  const artifacts = readArtifacts([{ path: 'model.json', bytes: new TextEncoder().encode(JSON.stringify(model.json)) }, ...model.shards], model.format);
  const data = joined(artifacts.weightData);
  const specs: WeightSpec[] = [];
  const parts: Uint8Array[] = [];
  const tensors: string[] = [];
  let offset = 0;
  for (const spec of artifacts.weightSpecs) {
    const size = describedBytes([spec]);
    if (size === undefined) throw new CliError(`weight ${spec.name} has dtype ${spec.dtype}, whose size is not fixed; this model cannot be quantized`);
    const stored = data.subarray(offset, offset + size);
    offset += size;
    if (spec.dtype !== 'float32' || spec.quantization) {
      specs.push(spec);
      parts.push(stored);
      continue;
    }
    const values = new Float32Array(stored.slice().buffer);
    const converted = convert(spec, values, to);
    specs.push(converted.spec);
    parts.push(converted.bytes);
    tensors.push(spec.name);
  }
  if (tensors.length === 0) throw new CliError('nothing to quantize: the model has no float32 weights (are they quantized already?)');
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  const json = { ...model.json, weightsManifest: [{ paths: [shardName], weights: specs }] };
  return { json, shard: { path: shardName, bytes }, tensors };
}

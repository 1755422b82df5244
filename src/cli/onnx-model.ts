/// <reference types="node" />
/** @file Reading and writing ONNX models in Node (onnx-proto), with errors that say what is wrong. */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { onnx as Onnx } from 'onnx-proto';
import type { TensorSpec } from '../types.js';
import { CliError } from './cli-error.js';

export type { Onnx };
// onnx-proto is CommonJS whose exports Node's ESM loader cannot name: load it with require.
export const onnx = (createRequire(import.meta.url)('onnx-proto') as typeof import('onnx-proto')).onnx;

/** ONNX TensorProto.DataType → the names the manifest uses. */
const ELEMENT_TYPES: Record<number, string> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64',
};

export async function readModel(path: string): Promise<Onnx.ModelProto> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new CliError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  return decodeModel(bytes, path);
}

export function decodeModel(bytes: Uint8Array, path: string): Onnx.ModelProto {
  let model: Onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw new CliError(`${path} is not an ONNX model (${(error as Error).message}); is the file truncated or of another format?`);
  }
  if (!model.graph || (model.graph.node ?? []).length === 0) throw new CliError(`${path} is not an ONNX model: it has no graph.`);
  return model;
}

export function encodeModel(model: Onnx.ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

export function opsetVersion(model: Onnx.ModelProto): number {
  const main = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
  return Number(main?.version ?? 0);
}

/** The graph's real inputs (not initializers) and outputs, as manifest tensor specs. */
export function modelSignature(model: Onnx.ModelProto): { inputs: TensorSpec[]; outputs: TensorSpec[] } {
  const graph = model.graph!;
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const spec = (v: Onnx.IValueInfoProto): TensorSpec => {
    const tensor = v.type?.tensorType;
    return {
      name: v.name ?? '',
      type: ELEMENT_TYPES[tensor?.elemType ?? 0] ?? 'unknown',
      // A dimension with neither a size nor a name is free: it gets a name (`d<index>`, as the loader
      // shows it), never a size of 0 that no tensor could have.
      dims: (tensor?.shape?.dim ?? []).map((d, i) => (d.dimParam ? d.dimParam : d.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) > 0 ? Number(d.dimValue) : `d${i}`)),
    };
  };
  return { inputs: (graph.input ?? []).filter((v) => !initializers.has(v.name ?? '')).map(spec), outputs: (graph.output ?? []).map(spec) };
}

/** A float32 initializer's values, from `rawData` (little-endian) or `floatData`. */
export function floatValues(tensor: Onnx.ITensorProto): Float32Array {
  const raw = tensor.rawData;
  if (raw && raw.length > 0) {
    const copy = new Uint8Array(raw);
    return new Float32Array(copy.buffer, copy.byteOffset, copy.byteLength / 4);
  }
  return Float32Array.from(tensor.floatData ?? []);
}

export function elementCount(tensor: Onnx.ITensorProto): number {
  return (tensor.dims ?? []).reduce<number>((n, d) => n * Number(d), 1);
}

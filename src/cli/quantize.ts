/// <reference types="node" />
/**
 * @file `ondevice quantize`: pure TypeScript on the ONNX protobuf.
 * - int8: weight-only, per-channel symmetric int8 for the weights of MatMul, Gemm and Conv, each
 *   followed by a `DequantizeLinear` (opset ≥ 13) that restores float32 for the op.
 * - fp16: every float32 initializer stored as float16, each followed by a `Cast` back to float32,
 *   so the graph computes in float32 as before and loads on every backend.
 * Inputs, outputs and biases stay float32.
 */
import { CliError } from './cli-error.js';
import { toFloat16Bits } from './float16.js';
import { elementCount, floatValues, onnx, opsetVersion, type Onnx } from './onnx-model.js';

const FLOAT = 1;
const INT8 = 3;
const FLOAT16 = 10;

export type QuantizeTarget = 'int8' | 'fp16';

export interface QuantizeReport {
  /** Initializers converted. */
  tensors: string[];
}

export function quantize(model: Onnx.ModelProto, to: QuantizeTarget): QuantizeReport {
  if (to === 'int8') return quantizeInt8(model);
  return toFp16(model);
}

/** Which input of an op is its weight, and which axis of that weight holds the output channels. */
function weightAxis(node: Onnx.INodeProto, rank: number): number | undefined {
  switch (node.opType) {
    case 'Conv':
      return 0;
    case 'Gemm': {
      const transB = node.attribute?.find((a) => a.name === 'transB');
      return Number(transB?.i ?? 0) === 1 ? 0 : 1;
    }
    case 'MatMul':
      return rank >= 2 ? rank - 1 : undefined;
    default:
      return undefined;
  }
}

function quantizeInt8(model: Onnx.ModelProto): QuantizeReport {
  const opset = opsetVersion(model);
  if (opset < 13) throw new CliError(`int8 needs opset 13 or newer (per-channel DequantizeLinear); this model is opset ${opset}. Re-export it with a newer opset.`);
  const graph = model.graph!;
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const done = new Map<string, string>();
  const added: Onnx.INodeProto[] = [];
  const addedInits: Onnx.ITensorProto[] = [];
  for (const node of graph.node ?? []) {
    const name = node.input?.[1];
    if (!name) continue;
    const weight = initializers.get(name);
    if (!weight || weight.dataType !== FLOAT) continue;
    const dims = (weight.dims ?? []).map(Number);
    const axis = weightAxis(node, dims.length);
    if (axis === undefined) continue;
    let dequantized = done.get(name);
    if (!dequantized) {
      const { q, scales } = perChannel(floatValues(weight), dims, axis);
      dequantized = `${name}_dequantized`;
      addedInits.push(
        { name: `${name}_quantized`, dataType: INT8, dims: dims, rawData: new Uint8Array(q.buffer) },
        { name: `${name}_scale`, dataType: FLOAT, dims: [scales.length], rawData: new Uint8Array(scales.buffer) },
        { name: `${name}_zero_point`, dataType: INT8, dims: [scales.length], rawData: new Uint8Array(scales.length) },
      );
      added.push({
        opType: 'DequantizeLinear',
        name: `${name}_DequantizeLinear`,
        input: [`${name}_quantized`, `${name}_scale`, `${name}_zero_point`],
        output: [dequantized],
        attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: axis }],
      });
      done.set(name, dequantized);
    }
    node.input![1] = dequantized;
  }
  return rewrite(graph, done, added, addedInits);
}

/** Symmetric int8 per channel along `axis`: scale = max|w| / 127, q = round(w / scale). */
function perChannel(values: Float32Array, dims: number[], axis: number): { q: Int8Array; scales: Float32Array } {
  const channels = dims[axis]!;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channelOf = (i: number) => Math.floor(i / inner) % channels;
  const max = new Float32Array(channels);
  for (let i = 0; i < values.length; i++) max[channelOf(i)] = Math.max(max[channelOf(i)]!, Math.abs(values[i]!));
  const scales = Float32Array.from(max, (m) => (m > 0 ? m / 127 : 1));
  const q = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) q[i] = Math.max(-127, Math.min(127, Math.round(values[i]! / scales[channelOf(i)]!)));
  return { q, scales };
}

function toFp16(model: Onnx.ModelProto): QuantizeReport {
  const graph = model.graph!;
  const done = new Map<string, string>();
  const added: Onnx.INodeProto[] = [];
  const addedInits: Onnx.ITensorProto[] = [];
  for (const tensor of graph.initializer ?? []) {
    if (tensor.dataType !== FLOAT || elementCount(tensor) === 0) continue;
    const name = tensor.name ?? '';
    const values = floatValues(tensor);
    const bits = Uint16Array.from(values, toFloat16Bits);
    addedInits.push({ name: `${name}_fp16`, dataType: FLOAT16, dims: tensor.dims ?? [], rawData: new Uint8Array(bits.buffer) });
    added.push({
      opType: 'Cast',
      name: `${name}_Cast`,
      input: [`${name}_fp16`],
      output: [`${name}_fp32`],
      attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }],
    });
    done.set(name, `${name}_fp32`);
  }
  for (const node of graph.node ?? []) {
    node.input = (node.input ?? []).map((input) => done.get(input) ?? input);
  }
  return rewrite(graph, done, added, addedInits);
}

/** Drops the replaced initializers (and their graph-input entries) and puts the new nodes first. */
function rewrite(graph: Onnx.IGraphProto, replaced: Map<string, string>, nodes: Onnx.INodeProto[], inits: Onnx.ITensorProto[]): QuantizeReport {
  if (replaced.size === 0) throw new CliError('nothing to quantize: the model has no float32 weights of MatMul, Gemm or Conv.');
  // The graph's outputs may name an initializer directly; keep those as they were.
  const outputs = new Set((graph.output ?? []).map((o) => o.name));
  for (const name of outputs) if (name && replaced.has(name)) throw new CliError(`initializer ${name} is a graph output; quantizing it would change the model's outputs.`);
  graph.initializer = [...(graph.initializer ?? []).filter((t) => !replaced.has(t.name ?? '')), ...inits];
  graph.input = (graph.input ?? []).filter((v) => !replaced.has(v.name ?? ''));
  // Initializers exist before any node runs: nodes that read only them can go first.
  graph.node = [...nodes, ...(graph.node ?? [])];
  return { tensors: [...replaced.keys()] };
}

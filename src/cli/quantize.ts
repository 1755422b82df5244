/// <reference types="node" />
/**
 * @file `ondevice quantize`: pure TypeScript on the ONNX protobuf.
 * - int8: weight-only symmetric int8 for the weights of MatMul, Gemm and Conv, each followed by a
 *   `DequantizeLinear` that restores float32 for the op: per output channel from opset 13, per
 *   tensor from opset 10 (where DequantizeLinear has no axis).
 * - fp16: every float32 weight stored as float16, each followed by a `Cast` back to float32, so
 *   the graph computes in float32 as before and loads on every backend. What does not survive half
 *   precision stays float32, as mature fp16 converters keep it: a weight with a value past the
 *   float16 range (65504; PP-OCRv4's detector has a BatchNormalization variance of 9.8e7, which
 *   became Inf and zeroed every output), and the weights of numerically fragile inputs (the
 *   statistics and affine terms of normalizations, Resize's scales, Clip's bounds, Pow's exponent).
 * Weights are found wherever exporters put them: initializers, float `Constant` nodes (paddle2onnx,
 * some tf2onnx outputs), and the subgraphs of `If`, `Loop` and `Scan`. Inputs, outputs and biases
 * stay float32.
 */
import { CliError } from './cli-error.js';
import { toFloat16Bits } from '../tensor/float16.js';
import { elementCount, floatValues, onnx, opsetVersion, type Onnx } from './onnx-model.js';

const FLOAT = 1;
const INT8 = 3;
const FLOAT16 = 10;

export type QuantizeTarget = 'int8' | 'fp16';

export interface QuantizeReport {
  /** Weights converted. */
  tensors: string[];
  /** Weights left in float32 because half precision would break them (fp16 only). */
  keptFp32: string[];
}

/** A float32 weight and the graph (main or sub) that holds it. */
export interface Weight {
  tensor: Onnx.ITensorProto;
  owner: Onnx.IGraphProto;
}

/** The new nodes and initializers each graph gets, and the names they replace. */
interface Plan {
  replaced: Map<string, string>;
  nodes: Map<Onnx.IGraphProto, Onnx.INodeProto[]>;
  inits: Map<Onnx.IGraphProto, Onnx.ITensorProto[]>;
}

export function quantize(model: Onnx.ModelProto, to: QuantizeTarget): QuantizeReport {
  const graphs = allGraphs(model.graph!);
  for (const graph of graphs) constantsToInitializers(graph);
  const weights = floatWeights(graphs);
  const plan: Plan = { replaced: new Map(), nodes: new Map(), inits: new Map() };
  let keptFp32: string[] = [];
  if (to === 'int8') planInt8(graphs, weights, opsetVersion(model), plan);
  else keptFp32 = planFp16(graphs, weights, plan);
  if (plan.replaced.size === 0) {
    throw new CliError(to === 'int8' ? 'nothing to quantize: the model has no float32 weights of MatMul, Gemm or Conv.' : 'nothing to convert: the model has no float32 weights.');
  }
  apply(graphs, plan);
  return { tensors: [...plan.replaced.keys()], keptFp32 };
}

/** The graph and every subgraph under it (If branches, Loop and Scan bodies), outermost first. */
export function allGraphs(graph: Onnx.IGraphProto): Onnx.IGraphProto[] {
  const out = [graph];
  for (const node of graph.node ?? []) {
    for (const attribute of node.attribute ?? []) {
      for (const sub of [attribute.g, ...(attribute.graphs ?? [])]) if (sub) out.push(...allGraphs(sub));
    }
  }
  return out;
}

/**
 * A float `Constant` node is an initializer by another name: it becomes one (same name, same graph),
 * unless a graph output names it (then it stays as it is, so the graph's outputs do not change).
 */
export function constantsToInitializers(graph: Onnx.IGraphProto): void {
  const outputs = new Set((graph.output ?? []).map((o) => o.name));
  const kept: Onnx.INodeProto[] = [];
  for (const node of graph.node ?? []) {
    const value = node.opType === 'Constant' && (node.attribute ?? []).length === 1 ? node.attribute![0] : undefined;
    const name = node.output?.[0];
    if (value?.name === 'value' && value.t && value.t.dataType === FLOAT && elementCount(value.t) > 0 && name && !outputs.has(name)) {
      graph.initializer = [...(graph.initializer ?? []), { ...value.t, name }];
    } else kept.push(node);
  }
  graph.node = kept;
}

/** Every float32 initializer of every graph, by name, except those a graph output names directly. */
export function floatWeights(graphs: readonly Onnx.IGraphProto[]): Map<string, Weight> {
  const outputs = new Set(graphs.flatMap((g) => (g.output ?? []).map((o) => o.name)));
  const weights = new Map<string, Weight>();
  for (const owner of graphs) {
    for (const tensor of owner.initializer ?? []) {
      if (tensor.dataType === FLOAT && elementCount(tensor) > 0 && tensor.name && !outputs.has(tensor.name)) weights.set(tensor.name, { tensor, owner });
    }
  }
  return weights;
}

function push<K, V>(map: Map<K, V[]>, key: K, ...values: V[]): void {
  map.set(key, [...(map.get(key) ?? []), ...values]);
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

function planInt8(graphs: readonly Onnx.IGraphProto[], weights: Map<string, Weight>, opset: number, plan: Plan): void {
  if (opset < 10) throw new CliError(`int8 needs opset 10 or newer (DequantizeLinear); this model is opset ${opset}. Re-export it with a newer opset.`);
  // Per output channel needs DequantizeLinear's axis (opset 13); before that, one scale per tensor.
  const perChannel = opset >= 13;
  for (const graph of graphs) {
    for (const node of graph.node ?? []) {
      const name = node.input?.[1];
      const weight = name ? weights.get(name) : undefined;
      if (!name || !weight) continue;
      const dims = (weight.tensor.dims ?? []).map(Number);
      const axis = weightAxis(node, dims.length);
      if (axis === undefined || plan.replaced.has(name)) continue;
      const { q, scales } = quantizeValues(floatValues(weight.tensor), dims, perChannel ? axis : undefined);
      const scaleDims = perChannel ? [scales.length] : [];
      push(
        plan.inits,
        weight.owner,
        { name: `${name}_quantized`, dataType: INT8, dims, rawData: new Uint8Array(q.buffer) },
        { name: `${name}_scale`, dataType: FLOAT, dims: scaleDims, rawData: new Uint8Array(scales.buffer) },
        { name: `${name}_zero_point`, dataType: INT8, dims: scaleDims, rawData: new Uint8Array(scales.length) },
      );
      push(plan.nodes, weight.owner, {
        opType: 'DequantizeLinear',
        name: `${name}_DequantizeLinear`,
        input: [`${name}_quantized`, `${name}_scale`, `${name}_zero_point`],
        output: [`${name}_dequantized`],
        attribute: perChannel ? [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: axis }] : [],
      });
      plan.replaced.set(name, `${name}_dequantized`);
    }
  }
}

/**
 * Symmetric int8: scale = max|w| / 127, q = round(w / scale), one scale per slice along `axis`, or
 * one for the whole tensor when `axis` is undefined.
 */
function quantizeValues(values: Float32Array, dims: number[], axis: number | undefined): { q: Int8Array; scales: Float32Array } {
  const channels = axis === undefined ? 1 : dims[axis]!;
  const inner = axis === undefined ? values.length : dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channelOf = (i: number) => Math.floor(i / inner) % channels;
  const max = new Float32Array(channels);
  for (let i = 0; i < values.length; i++) max[channelOf(i)] = Math.max(max[channelOf(i)]!, Math.abs(values[i]!));
  const scales = Float32Array.from(max, (m) => (m > 0 ? m / 127 : 1));
  const q = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) q[i] = Math.max(-127, Math.min(127, Math.round(values[i]! / scales[channelOf(i)]!)));
  return { q, scales };
}

/** Inputs (by position) whose weights stay float32 in the fp16 variant: where half precision's range or steps break the op. */
const FRAGILE_INPUTS: Record<string, readonly number[]> = {
  BatchNormalization: [1, 2, 3, 4],
  InstanceNormalization: [1, 2],
  LayerNormalization: [1, 2],
  GroupNormalization: [1, 2],
  Resize: [1, 2],
  Upsample: [1],
  Clip: [1, 2],
  Pow: [1],
};

/** The largest finite float16. */
const FP16_MAX = 65504;

/** Weights the fp16 variant keeps in float32: those of fragile inputs, and any holding a value past float16's range. */
function keptFp32(graphs: readonly Onnx.IGraphProto[], weights: Map<string, Weight>): Set<string> {
  const kept = new Set<string>();
  for (const graph of graphs) {
    for (const node of graph.node ?? []) {
      for (const index of FRAGILE_INPUTS[node.opType ?? ''] ?? []) {
        const name = node.input?.[index];
        if (name && weights.has(name)) kept.add(name);
      }
    }
  }
  for (const [name, { tensor }] of weights) if (floatValues(tensor).some((v) => Math.abs(v) > FP16_MAX)) kept.add(name);
  return kept;
}

function planFp16(graphs: readonly Onnx.IGraphProto[], weights: Map<string, Weight>, plan: Plan): string[] {
  const kept = keptFp32(graphs, weights);
  for (const [name, { tensor, owner }] of weights) {
    if (kept.has(name)) continue;
    const bits = Uint16Array.from(floatValues(tensor), toFloat16Bits);
    push(plan.inits, owner, { name: `${name}_fp16`, dataType: FLOAT16, dims: tensor.dims ?? [], rawData: new Uint8Array(bits.buffer) });
    push(plan.nodes, owner, {
      opType: 'Cast',
      name: `${name}_Cast`,
      input: [`${name}_fp16`],
      output: [`${name}_fp32`],
      attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }],
    });
    plan.replaced.set(name, `${name}_fp32`);
  }
  return [...kept];
}

/**
 * Every graph drops the weights it held, gets their replacements, and reads the new names; a
 * subgraph that reads a weight of an outer graph reads the outer graph's replacement. The new nodes
 * read only initializers, so they go first in their graph.
 */
function apply(graphs: readonly Onnx.IGraphProto[], plan: Plan): void {
  for (const graph of graphs) {
    graph.initializer = [...(graph.initializer ?? []).filter((t) => !plan.replaced.has(t.name ?? '')), ...(plan.inits.get(graph) ?? [])];
    graph.input = (graph.input ?? []).filter((v) => !plan.replaced.has(v.name ?? ''));
    for (const node of graph.node ?? []) node.input = (node.input ?? []).map((input) => plan.replaced.get(input) ?? input);
    graph.node = [...(plan.nodes.get(graph) ?? []), ...(graph.node ?? [])];
  }
}

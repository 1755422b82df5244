/// <reference types="node" />
/**
 * @file `ondevice quantize --to q4`: every MatMul whose second input is a float32 weight [K, N] with
 * K ≥ the block size becomes onnxruntime's `com.microsoft` `MatMulNBits` (4 bits): the weight
 * transposed to N rows of K, cut into blocks of `blockSize` along K (the last one padded with zeros),
 * each block a scale (and, asymmetric, a zero point), its codes packed two to a byte, the first
 * element in the low nibble. Layout, as onnxruntime documents it: B uint8 [N, kBlocks, blockSize / 2],
 * scales float [N × kBlocks], zero_points uint8 [N × ceil(kBlocks / 2)], each column's on bytes of its own (absent:
 * 8 for every block, the symmetric case). Gemm and Conv weights are left as they are: MatMulNBits is
 * a MatMul, and the weights that dominate language and speech models are MatMuls.
 *
 * q4f16 (`--to q4f16`): the same codes with float16 scales, so MatMulNBits computes in half precision
 * (the fast path of WebGPU adapters with `shader-f16`). Its activation is cast to float16 before it and
 * its result back to float32 after it, so the graph's inputs, outputs and every other op keep their
 * types; the remaining float weights then go to float16 as the fp16 variant makes them (quantize.ts).
 */
import { CliError } from './cli-error.js';
import { floatValues, type Onnx } from './onnx-model.js';
import { toFloat16Bits } from '../tensor/float16.js';
import { allGraphs, constantsToInitializers, floatWeights } from './quantize.js';

const UINT8 = 2;
const FLOAT = 1;
const FLOAT16 = 10;
export const Q4_DOMAIN = 'com.microsoft';

export interface Q4Options {
  /** @default 32 */
  blockSize: number;
  /** Symmetric: one scale a block, codes −8…7 around 8. Asymmetric: a scale and a zero point a block. @default false */
  symmetric: boolean;
}

export interface PackedQ4 {
  b: Uint8Array;
  scales: Float32Array;
  zeroPoints: Uint8Array | undefined;
}

/** Packs `values` (row-major [K, N], as MatMul's B) block-wise along K for each of the N columns. */
export function packQ4(values: Float32Array, k: number, n: number, blockSize: number, symmetric: boolean): PackedQ4 {
  const blocks = Math.ceil(k / blockSize);
  const blob = blockSize / 2;
  const b = new Uint8Array(n * blocks * blob);
  const scales = new Float32Array(n * blocks);
  const zeroPoints = symmetric ? undefined : new Uint8Array(n * Math.ceil(blocks / 2));
  for (let col = 0; col < n; col++) {
    for (let blk = 0; blk < blocks; blk++) {
      const start = blk * blockSize;
      const end = Math.min(k, start + blockSize);
      let min = 0;
      let max = 0;
      let absMax = 0;
      for (let row = start; row < end; row++) {
        const v = values[row * n + col]!;
        min = Math.min(min, v);
        max = Math.max(max, v);
        absMax = Math.max(absMax, Math.abs(v));
      }
      // Symmetric: ±absMax over codes −7…7 around 8. Asymmetric: [min, max] (0 always inside, so a
      // zero weight, and the padding, is exact) over 0…15.
      const scale = symmetric ? absMax / 7 : (max - min) / 15;
      const zero = symmetric ? 8 : scale === 0 ? 0 : Math.min(15, Math.max(0, Math.round(-min / scale)));
      scales[col * blocks + blk] = scale;
      const at = col * blocks + blk;
      // Each column's zero points start on a byte of their own: [N, ceil(kBlocks / 2)].
      const zp = col * Math.ceil(blocks / 2) + (blk >> 1);
      if (zeroPoints) zeroPoints[zp] = zeroPoints[zp]! | (zero << ((blk & 1) * 4));
      for (let i = 0; i < blockSize; i++) {
        const row = start + i;
        const v = row < end ? values[row * n + col]! : 0;
        const code = scale === 0 ? zero : Math.min(15, Math.max(0, Math.round(v / scale) + zero));
        const byte = at * blob + (i >> 1);
        b[byte] = b[byte]! | (code << ((i & 1) * 4));
      }
    }
  }
  return { b, scales, zeroPoints };
}

/** The weights as MatMulNBits computes with them: (code − zero point) × scale, back in [K, N]. */
export function unpackQ4(packed: PackedQ4, k: number, n: number, blockSize: number): Float32Array {
  const blocks = Math.ceil(k / blockSize);
  const out = new Float32Array(k * n);
  for (let col = 0; col < n; col++) {
    for (let row = 0; row < k; row++) {
      const blk = Math.floor(row / blockSize);
      const i = row % blockSize;
      const at = col * blocks + blk;
      const code = (packed.b[at * (blockSize / 2) + (i >> 1)]! >> ((i & 1) * 4)) & 15;
      const zero = packed.zeroPoints ? (packed.zeroPoints[col * Math.ceil(blocks / 2) + (blk >> 1)]! >> ((blk & 1) * 4)) & 15 : 8;
      out[row * n + col] = (code - zero) * packed.scales[at]!;
    }
  }
  return out;
}

export function checkBlockSize(blockSize: number): void {
  if (!Number.isInteger(blockSize) || blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) {
    throw new CliError(`--block-size must be a power of two of at least 16 (16, 32, 64, 128), got ${blockSize}`, 2);
  }
}

const tensor = (name: string, dims: number[], dataType: number, raw: Uint8Array): Onnx.ITensorProto => ({ name, dims, dataType, rawData: raw });

/** How MatMulNBits computes: float32 (q4) or float16 scales and activations (q4f16). */
export type Q4Precision = 'float32' | 'float16';

function scalesTensor(name: string, scales: Float32Array, precision: Q4Precision): Onnx.ITensorProto {
  if (precision === 'float32') return tensor(name, [scales.length], FLOAT, new Uint8Array(scales.buffer));
  const bits = Uint16Array.from(scales, toFloat16Bits);
  return tensor(name, [scales.length], FLOAT16, new Uint8Array(bits.buffer));
}

const int = (key: string, i: number): Onnx.IAttributeProto => ({ name: key, type: 2, i });
const cast = (input: string, output: string, to: number): Onnx.INodeProto => ({ name: `${output}_cast`, opType: 'Cast', input: [input], output: [output], attribute: [int('to', to)] });

/** Rewrites every eligible MatMul in place; returns the weights converted. Refuses (nothing changed) when there is none. */
export function quantizeQ4(model: Onnx.ModelProto, options: Q4Options, precision: Q4Precision = 'float32'): string[] {
  checkBlockSize(options.blockSize);
  const graphs = allGraphs(model.graph!);
  for (const graph of graphs) constantsToInitializers(graph);
  const weights = floatWeights(graphs);
  const converted: string[] = [];
  const uses = new Map<string, number>();
  for (const graph of graphs) for (const node of graph.node ?? []) for (const input of node.input ?? []) uses.set(input, (uses.get(input) ?? 0) + 1);
  for (const graph of graphs) {
    // q4f16: the values that have a float16 twin (`<name>_q4f16`): an activation read by several
    // MatMuls (a block's Q, K and V projections) is cast once, and a MatMul that reads another's
    // result takes its float16 output as it is (in a chain, x @ W1 @ W2, no Cast pair between them).
    const halves = new Set<string>();
    graph.node = (graph.node ?? []).flatMap((node) => {
      const weight = node.opType === 'MatMul' && (!node.domain || node.domain === 'ai.onnx') ? weights.get(node.input?.[1] ?? '') : undefined;
      const dims = weight?.tensor.dims?.map(Number) ?? [];
      if (!weight || weight.tensor.dataType !== FLOAT || dims.length !== 2 || dims[0]! < options.blockSize) return [node];
      const [k, n] = dims as [number, number];
      const name = weight.tensor.name!;
      const packed = packQ4(floatValues(weight.tensor), k, n, options.blockSize, options.symmetric);
      const blocks = Math.ceil(k / options.blockSize);
      const inits = [tensor(`${name}_Q4`, [n, blocks, options.blockSize / 2], UINT8, packed.b), scalesTensor(`${name}_scales`, packed.scales, precision)];
      if (packed.zeroPoints) inits.push(tensor(`${name}_zero_points`, [packed.zeroPoints.length], UINT8, packed.zeroPoints));
      weight.owner.initializer = [...(weight.owner.initializer ?? []), ...inits];
      // The float weight goes once no other node reads it.
      uses.set(name, (uses.get(name) ?? 1) - 1);
      if (uses.get(name) === 0) weight.owner.initializer = weight.owner.initializer.filter((t) => t !== weight.tensor);
      converted.push(name);
      const [a, output] = [node.input![0]!, node.output?.[0] ?? ''];
      const half = precision === 'float16';
      const nodes: Onnx.INodeProto[] = [];
      if (half && !halves.has(a)) {
        halves.add(a);
        nodes.push(cast(a, `${a}_q4f16`, FLOAT16));
      }
      nodes.push({
        name: node.name ? `${node.name}_Q4` : '',
        opType: 'MatMulNBits',
        domain: Q4_DOMAIN,
        input: [half ? `${a}_q4f16` : a, ...inits.map((t) => t.name!)],
        output: [half ? `${output}_q4f16` : output],
        attribute: [int('K', k), int('N', n), int('bits', 4), int('block_size', options.blockSize)],
      });
      if (half) {
        halves.add(output);
        nodes.push(cast(`${output}_q4f16`, output, FLOAT));
      }
      return nodes;
    });
  }
  const target = precision === 'float16' ? 'q4f16' : 'q4';
  if (converted.length === 0) throw new CliError(`nothing to quantize to ${target}: the model has no MatMul whose weight is a float32 initializer [K, N] with K ≥ ${options.blockSize}; nothing was written`);
  if (!model.opsetImport.some((o) => o.domain === Q4_DOMAIN)) model.opsetImport.push({ domain: Q4_DOMAIN, version: 1 });
  return converted;
}

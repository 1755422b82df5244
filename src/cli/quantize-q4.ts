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
 */
import { CliError } from './cli-error.js';
import { floatValues, type Onnx } from './onnx-model.js';
import { allGraphs, constantsToInitializers, floatWeights } from './quantize.js';

const UINT8 = 2;
const FLOAT = 1;
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

/** Rewrites every eligible MatMul in place; returns the weights converted. Refuses (nothing changed) when there is none. */
export function quantizeQ4(model: Onnx.ModelProto, options: Q4Options): string[] {
  checkBlockSize(options.blockSize);
  const graphs = allGraphs(model.graph!);
  for (const graph of graphs) constantsToInitializers(graph);
  const weights = floatWeights(graphs);
  const converted: string[] = [];
  const uses = new Map<string, number>();
  for (const graph of graphs) for (const node of graph.node ?? []) for (const input of node.input ?? []) uses.set(input, (uses.get(input) ?? 0) + 1);
  for (const graph of graphs) {
    graph.node = (graph.node ?? []).map((node) => {
      const weight = node.opType === 'MatMul' && (!node.domain || node.domain === 'ai.onnx') ? weights.get(node.input?.[1] ?? '') : undefined;
      const dims = weight?.tensor.dims?.map(Number) ?? [];
      if (!weight || weight.tensor.dataType !== FLOAT || dims.length !== 2 || dims[0]! < options.blockSize) return node;
      const [k, n] = dims as [number, number];
      const name = weight.tensor.name!;
      const packed = packQ4(floatValues(weight.tensor), k, n, options.blockSize, options.symmetric);
      const blocks = Math.ceil(k / options.blockSize);
      const inits = [tensor(`${name}_Q4`, [n, blocks, options.blockSize / 2], UINT8, packed.b), tensor(`${name}_scales`, [n * blocks], FLOAT, new Uint8Array(packed.scales.buffer))];
      if (packed.zeroPoints) inits.push(tensor(`${name}_zero_points`, [packed.zeroPoints.length], UINT8, packed.zeroPoints));
      weight.owner.initializer = [...(weight.owner.initializer ?? []), ...inits];
      // The float weight goes once no other node reads it.
      uses.set(name, (uses.get(name) ?? 1) - 1);
      if (uses.get(name) === 0) weight.owner.initializer = weight.owner.initializer.filter((t) => t !== weight.tensor);
      converted.push(name);
      const int = (key: string, i: number): Onnx.IAttributeProto => ({ name: key, type: 2, i });
      return {
        name: node.name ? `${node.name}_Q4` : '',
        opType: 'MatMulNBits',
        domain: Q4_DOMAIN,
        input: [node.input![0]!, ...inits.map((t) => t.name!)],
        output: node.output ?? [],
        attribute: [int('K', k), int('N', n), int('bits', 4), int('block_size', options.blockSize)],
      };
    });
  }
  if (converted.length === 0) throw new CliError(`nothing to quantize to q4: the model has no MatMul whose weight is a float32 initializer [K, N] with K ≥ ${options.blockSize}; nothing was written`);
  if (!model.opsetImport.some((o) => o.domain === Q4_DOMAIN)) model.opsetImport.push({ domain: Q4_DOMAIN, version: 1 });
  return converted;
}

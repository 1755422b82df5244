/// <reference types="node" />
/**
 * @file `ondevice quantize` on files: one ONNX model to a new file, or every graph of an exporter's
 * folder (see publish-layout.ts) written beside it under transformers.js's sibling name
 * (`<graph>_quantized.onnx` for int8, `<graph>_fp16.onnx`), so that `publish` then finds the new
 * variant. Weights in external data are read from beside the model and written inside the result.
 */
import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { CliError } from './cli-error.js';
import { checkExtents, externalize, externalLocations, internalize, readExternalData } from './external-data.js';
import { writeAtomically } from './manifest-file.js';
import { encodeModel, readModel, type Onnx } from './onnx-model.js';
import { graphOf } from './publish-layout.js';
import { quantize, type QuantizeTarget } from './quantize.js';
import { quantizeQ4, type Q4Options } from './quantize-q4.js';

/** What `quantize` makes of ONNX: int8 and fp16 (quantize.ts), and 4-bit MatMulNBits (quantize-q4.ts). */
export type OnnxTarget = QuantizeTarget | 'q4' | 'q4f16';

/** Quantizes `input` into `output`; returns the line to print. */
export interface QuantizeFileOptions {
  /** For `q4` and `q4f16`. @default { blockSize: 32, symmetric: false } */
  q4?: Q4Options | undefined;
  /** Writes the weights to `<output>_data` beside the model (ONNX external data). @default false */
  externalData?: boolean | undefined;
  /** A model with nothing to convert is written as it is (a folder's variant carries every graph). @default false */
  copyIfNothing?: boolean | undefined;
}

/** Writes the model, its weights moved to `<output>_data` first when asked (the model never names a file not yet there). */
async function write(model: Onnx.ModelProto, output: string, externalData: boolean): Promise<number> {
  const moved = externalData ? externalize(model, `${basename(output)}_data`) : undefined;
  if (moved) await writeAtomically(`${output}_data`, moved.data);
  const bytes = moved ? moved.model : encodeModel(model);
  await writeAtomically(output, bytes);
  return bytes.length + (moved?.data.length ?? 0);
}

export async function quantizeFile(input: string, output: string, to: OnnxTarget, options: QuantizeFileOptions = {}): Promise<string> {
  const { q4 = { blockSize: 32, symmetric: false }, externalData = false, copyIfNothing = false } = options;
  const model = await readModel(input);
  const external = externalLocations(model);
  if (external.length > 0) {
    const files = await readExternalData(input, external);
    checkExtents(model, files, input);
    internalize(model, files);
  }
  if (to === 'q4' || to === 'q4f16') {
    let converted: string[];
    try {
      converted = quantizeQ4(model, q4, to === 'q4f16' ? 'float16' : 'float32');
    } catch (error) {
      // In a folder, a graph with no MatMul weight (an embedding, say) is still part of the variant.
      if (!copyIfNothing || !(error instanceof CliError)) throw error;
      if (to === 'q4f16') return `${output}: no MatMul weight to quantize to q4f16; ${halfRest(model)}, ${await write(model, output, externalData)} bytes`;
      return `${output}: no MatMul weight to quantize to q4; written as it is (a variant carries every graph), ${await write(model, output, externalData)} bytes`;
    }
    const rest = to === 'q4f16' ? `; ${halfRest(model)}` : '';
    const scales = to === 'q4f16' ? 'float16 scales and activations, ' : '';
    return `${output}: ${to} (MatMulNBits, block ${q4.blockSize}, ${scales}${q4.symmetric ? 'symmetric' : 'asymmetric'}), ${converted.length} MatMul weights converted${rest}, ${await write(model, output, externalData)} bytes`;
  }
  let report;
  try {
    report = quantize(model, to);
  } catch (error) {
    if (!copyIfNothing || !(error instanceof CliError)) throw error;
    return `${output}: no weight to convert to ${to}; written as it is (a variant carries every graph), ${await write(model, output, externalData)} bytes`;
  }
  const written = await write(model, output, externalData);
  const kept = report.keptFp32.length > 0 ? `; ${report.keptFp32.length} kept in float32 (past float16's range, or inputs of ops half precision breaks: ${report.keptFp32.slice(0, 5).join(', ')}${report.keptFp32.length > 5 ? ', …' : ''})` : '';
  return `${output}: ${to}, ${report.tensors.length} weights converted${kept}, ${written} bytes`;
}

/** q4f16's other float weights, as the fp16 variant stores them; the line's words for it. */
function halfRest(model: Onnx.ModelProto): string {
  try {
    const report = quantize(model, 'fp16');
    return `${report.tensors.length} other weights in float16${report.keptFp32.length > 0 ? ` (${report.keptFp32.length} kept in float32)` : ''}`;
  } catch (error) {
    if (error instanceof CliError) return 'no other float weight';
    throw error;
  }
}

const SIBLING: Record<OnnxTarget, string> = { int8: '_quantized', fp16: '_fp16', q4: '_q4', q4f16: '_q4f16' };

/** Every fp32 graph of `folder` (its `onnx/` if it has one) quantized beside it; returns the lines to print. */
export async function quantizeFolder(folder: string, to: OnnxTarget, options: Omit<QuantizeFileOptions, 'copyIfNothing'> = {}): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true });
  const dir = entries.some((e) => e.isDirectory() && e.name === 'onnx') ? join(folder, 'onnx') : folder;
  const graphs = (await readdir(dir)).filter((f) => /\.onnx$/i.test(f) && graphOf(f).variant === 'fp32').sort();
  if (graphs.length === 0) throw new CliError(`${dir} holds no fp32 graph (<graph>.onnx) to quantize`);
  const lines = [];
  for (const file of graphs) {
    const out = join(dir, `${basename(file, '.onnx')}${SIBLING[to]}.onnx`);
    lines.push(await quantizeFile(join(dir, file), out, to, { ...options, copyIfNothing: true }));
  }
  return lines;
}

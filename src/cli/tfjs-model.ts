/// <reference types="node" />
/**
 * @file TF.js models in a publisher's model folder: `model.json` and its shards (one fp32 variant), or
 * one sub-folder per variant (`fp32/model.json`, …). Each is loaded and run once with TF.js itself
 * (the library's own adapter, on TF.js's CPU backend) before anything is published, and gives the
 * manifest its inputs and outputs.
 */
import { VARIANT_NAME } from '../manifest/types.js';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isOndeviceError } from '../errors.js';
import { parseModelJson, readArtifacts, type TfjsFormat, type WeightSpec } from '../runtime/tfjs/artifacts.js';
import { tfjsRuntime, type TfjsKind } from '../runtime/tfjs/adapter.js';
import type { ModelFileBytes, RuntimeSession } from '../runtime/types.js';
import { tfCore } from '../runtime/tfjs/engine.js';
import type { TensorSpec } from '../types.js';
import { CliError } from './cli-error.js';

export interface TfjsVariant {
  format: TfjsFormat;
  /** model.json as read (its shard paths are rewritten at publish). */
  json: Record<string, unknown>;
  /** The shards in model.json's order, with the paths it names. */
  shards: { path: string; bytes: Uint8Array }[];
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** A TF.js model.json of any name: JSON with a `modelTopology` (a cheap look, checked fully when read). */
export async function isModelJson(path: string): Promise<boolean> {
  if (!path.endsWith('.json')) return false;
  const text = await readFile(path, 'utf8').catch(() => '');
  return /"modelTopology"\s*:/.test(text);
}

/**
 * The variant a lone TF.js model is published as: `--variant` if given, else what its float weights
 * are quantized to (`fp16`, `uint8`, `uint16`: TF.js dequantizes them when it loads), else `fp32`.
 * Only float weights count: int32 and bool weights (shapes, indices) are never quantized, and a model
 * such as MoveNet ships float16 floats beside them.
 */
function variantOf(model: TfjsVariant, asked: string | undefined): string {
  if (asked !== undefined) return asked;
  const groups = (model.json['weightsManifest'] as Array<{ weights: WeightSpec[] }> | undefined) ?? [];
  const floats = groups.flatMap((g) => g.weights).filter((w) => w.dtype === undefined || w.dtype === 'float32');
  const dtypes = new Set(floats.map((w) => w.quantization?.dtype ?? 'none'));
  const [only] = dtypes;
  if (dtypes.size !== 1 || only === undefined || only === 'none') return 'fp32';
  return only === 'float16' ? 'fp16' : only;
}

/**
 * The TF.js variants at `modelPath`, or `undefined` when it holds no TF.js model (an ONNX model):
 * a model.json of any name (`pose-lite.json` beside `pose-lite.bin`), a folder holding one, or one
 * sub-folder per variant (`fp32/model.json`, …).
 */
export async function readTfjsVariants(modelPath: string, asked?: string): Promise<Map<string, TfjsVariant> | undefined> {
  if (await isModelJson(modelPath)) {
    const model = await readVariant(dirname(modelPath), basename(modelPath));
    return new Map([[variantOf(model, asked), model]]);
  }
  const entries = await readdir(modelPath, { withFileTypes: true }).catch(() => []);
  const jsons = [];
  for (const entry of entries.filter((e) => e.isFile())) if (await isModelJson(join(modelPath, entry.name))) jsons.push(entry.name);
  const lone = jsons.includes('model.json') ? 'model.json' : jsons.length === 1 ? jsons[0] : undefined;
  if (jsons.length > 1 && !lone) throw new CliError(`${modelPath} holds several TF.js models (${jsons.sort().join(', ')}); publish one model file at a time, or one folder per variant (fp32/model.json, ...)`);
  if (lone) {
    const model = await readVariant(modelPath, lone);
    return new Map([[variantOf(model, asked), model]]);
  }
  const dirs = new Map<string, string>();
  for (const entry of entries.filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    if (await exists(join(modelPath, entry.name, 'model.json'))) dirs.set(entry.name, join(modelPath, entry.name));
  }
  if (dirs.size === 0) return undefined;
  const variants = new Map<string, TfjsVariant>();
  for (const [variant, dir] of dirs) {
    if (!VARIANT_NAME.test(variant)) throw new CliError(`${dir}: name variant folders after the variant, e.g. fp32/`);
    variants.set(variant, await readVariant(dir, 'model.json'));
  }
  return variants;
}

export async function readVariant(dir: string, file: string): Promise<TfjsVariant> {
  const path = join(dir, file);
  try {
    const bytes = await readFile(path);
    const { json, format, groups } = parseModelJson(bytes, path);
    const names = groups.flatMap((g) => g.paths);
    const shards = await Promise.all(
      names.map(async (name) => {
        const bytes = await readFile(join(dir, name)).catch(() => {
          throw new CliError(`${path} names the weight shard ${name}, which is not in ${dir}`);
        });
        return { path: name, bytes: new Uint8Array(bytes) };
      }),
    );
    // Checks that the shards add up to what model.json describes.
    readArtifacts([{ path: 'model.json', bytes }, ...shards], format);
    return { format, json, shards };
  } catch (error) {
    if (isOndeviceError(error)) throw new CliError(error.message);
    throw error;
  }
}

/**
 * Opens a TF.js model in Node with the library's own adapter on TF.js's CPU backend (the one backend
 * Node has without tfjs-node's native binary); a model TF.js cannot load is a one-line CliError.
 */
export async function openTfjs(files: readonly ModelFileBytes[], kind: TfjsKind, label: string): Promise<RuntimeSession> {
  // PROD mode: no "install tfjs-node" banner in a command's output.
  (await tfCore()).enableProdMode();
  try {
    return await tfjsRuntime(kind).create(files, 'cpu');
  } catch (error) {
    throw new CliError(`TF.js cannot load the ${label} variant: ${(error as Error).message}`);
  }
}

/** Loads the variant with TF.js and runs it once: its inputs and outputs, or a clear error. */
export async function tfjsSignature(variant: TfjsVariant, label: string): Promise<{ inputs: TensorSpec[]; outputs: TensorSpec[] }> {
  const files = [{ path: 'model.json', bytes: new TextEncoder().encode(JSON.stringify(variant.json)) }, ...variant.shards];
  const session = await openTfjs(files, variant.format === 'layers-model' ? 'layers' : 'graph', label);
  // The manifest describes tensors (name, type, dims); the names a run also accepts are the loader's business.
  const described = (t: TensorSpec): TensorSpec => ({ name: t.name, type: t.type, dims: t.dims });
  const signature = { inputs: session.inputs.map(described), outputs: session.outputs.map(described) };
  await session.release();
  return signature;
}

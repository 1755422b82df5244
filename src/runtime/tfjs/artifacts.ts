/**
 * @file A TF.js model from the bytes the library downloaded, verified and cached: `model.json` (the
 * manifest lists it first) and the weight shards it names → the artifacts of an in-memory IO handler.
 * TF.js is never handed a URL, which would bypass the cache, integrity checks and update rules.
 * Pure data work, shared by the browser adapter and the CLI.
 */
import { OndeviceError } from '../../errors.js';
import type { ModelFileBytes } from '../types.js';

export type TfjsFormat = 'layers-model' | 'graph-model';

/** One entry of a `weightsManifest` group, as TF.js writes it. */
export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** The fields of TF.js's `ModelArtifacts` that a model.json carries, with the shards' bytes in model.json's order. */
export interface TfjsArtifacts {
  format: TfjsFormat;
  modelTopology: Record<string, unknown>;
  weightSpecs: WeightSpec[];
  /**
   * One buffer per shard, as TF.js takes them (`WeightData`): joining them first would copy the
   * whole model once more, and hold it twice, while it loads.
   */
  weightData: ArrayBuffer[];
  /** model.json's other top-level fields (signature, trainingConfig, userDefinedMetadata, …), passed through. */
  extra: Record<string, unknown>;
  /** The shard paths as model.json names them, in order. */
  shardPaths: string[];
}

const BYTES_PER_ELEMENT: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, complex64: 8 };

function invalid(file: string, problem: string, details: Record<string, unknown> = {}): never {
  throw new OndeviceError('MODEL_INVALID', `${file} is not a usable TF.js model: ${problem}.`, { details: { file, ...details } });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads model.json: its format (stated, else told by the topology's shape) and weight groups. */
export function parseModelJson(bytes: Uint8Array, file = 'model.json'): { json: Record<string, unknown>; format: TfjsFormat; groups: { paths: string[]; weights: WeightSpec[] }[] } {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    invalid(file, `it is not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isObject(json)) invalid(file, 'it is not a JSON object');
  const topology = json['modelTopology'];
  if (!isObject(topology)) invalid(file, 'it has no "modelTopology" object');
  const stated = json['format'];
  const format: TfjsFormat | undefined =
    stated === 'layers-model' || stated === 'graph-model' ? stated : Array.isArray(topology['node']) ? 'graph-model' : 'class_name' in topology || 'model_config' in topology ? 'layers-model' : undefined;
  if (!format) invalid(file, `"format" is ${JSON.stringify(stated)}, neither "layers-model" nor "graph-model"`);
  const manifest = json['weightsManifest'] ?? [];
  if (!Array.isArray(manifest)) invalid(file, '"weightsManifest" is not an array');
  const groups = manifest.map((group: unknown, g) => {
    if (!isObject(group) || !Array.isArray(group['paths']) || !Array.isArray(group['weights'])) invalid(file, `weightsManifest[${g}] needs "paths" and "weights" arrays`);
    const paths = group['paths'] as unknown[];
    if (!paths.every((p): p is string => typeof p === 'string' && p.length > 0)) invalid(file, `weightsManifest[${g}].paths must be file names`);
    const weights = group['weights'] as unknown[];
    weights.forEach((w, i) => {
      if (!isObject(w) || typeof w['name'] !== 'string' || typeof w['dtype'] !== 'string' || !Array.isArray(w['shape']) || !w['shape'].every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
        invalid(file, `weightsManifest[${g}].weights[${i}] needs a name, a dtype and a shape of non-negative integers`);
      }
    });
    return { paths, weights: weights as WeightSpec[] };
  });
  return { json, format, groups };
}

/** Bytes the specs describe, or `undefined` when a string weight makes the size variable. */
export function describedBytes(specs: readonly WeightSpec[]): number | undefined {
  let total = 0;
  for (const spec of specs) {
    const dtype = spec.quantization?.dtype ?? spec.dtype;
    const size = BYTES_PER_ELEMENT[dtype];
    if (size === undefined) return undefined;
    total += size * spec.shape.reduce((a, b) => a * b, 1);
  }
  return total;
}

/** Joins a shard path to the directory of model.json's own path, as TF.js resolves it against model.json's URL. */
export function shardPath(modelPath: string, shard: string): string {
  const dir = modelPath.includes('/') ? modelPath.slice(0, modelPath.lastIndexOf('/') + 1) : '';
  const parts: string[] = [];
  for (const part of `${dir}${shard}`.split('/')) {
    if (part === '..') parts.pop();
    else if (part !== '.' && part !== '') parts.push(part);
  }
  return parts.join('/');
}

/**
 * `files[0]` is model.json; every shard it names must be among the other files (by path, relative to
 * model.json's). The shards are joined in model.json's order and must add up to what the specs describe.
 */
export function readArtifacts(files: readonly ModelFileBytes[], expected?: TfjsFormat): TfjsArtifacts {
  const [modelFile, ...rest] = files;
  if (!modelFile) throw new OndeviceError('MODEL_INVALID', 'The model has no files; a TF.js variant lists its model.json first, then its weight shards.');
  const { json, format, groups } = parseModelJson(modelFile.bytes, modelFile.path);
  if (expected && format !== expected) {
    invalid(modelFile.path, `it is a ${format}, but the manifest's runtime says ${expected === 'layers-model' ? 'tfjs-layers' : 'tfjs-graph'}`, { format, expected });
  }
  const byPath = new Map(rest.map((f) => [shardPath('', f.path), f.bytes]));
  const shardPaths = groups.flatMap((g) => g.paths);
  const shards = shardPaths.map((p) => {
    const bytes = byPath.get(shardPath(modelFile.path, p));
    if (!bytes) invalid(modelFile.path, `it names the weight shard "${p}", which is not among the model's files (${rest.map((f) => f.path).join(', ') || 'none'})`, { shard: p });
    return bytes;
  });
  const weightSpecs = groups.flatMap((g) => g.weights);
  const size = shards.reduce((n, s) => n + s.length, 0);
  const described = describedBytes(weightSpecs);
  if (described !== undefined && described !== size) {
    invalid(modelFile.path, `its weight shards hold ${size} bytes but its weightsManifest describes ${described} (a shard is missing, truncated or from another model)`, { bytes: size, described });
  }
  // A shard that is a whole buffer is passed as it is; a view into a larger one is copied out.
  const weightData = shards.map((s) => (s.byteOffset === 0 && s.byteLength === s.buffer.byteLength ? (s.buffer as ArrayBuffer) : s.slice().buffer));
  const { modelTopology, weightsManifest: _w, format: _f, ...extra } = json;
  return { format, modelTopology: modelTopology as Record<string, unknown>, weightSpecs, weightData, extra, shardPaths };
}

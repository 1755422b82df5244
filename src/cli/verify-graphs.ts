/// <reference types="node" />
/**
 * @file `ondevice verify` over a release of several graphs: every graph of every variant run by
 * onnxruntime-node on the same fixed inputs as the reference variant's (free dimensions as 1, floats
 * from a seeded sequence, integers 0: a valid token id and index), compared by size and max |Δ|.
 * The test set itself feeds the default graph (verify.ts); this shows where a variant drifts.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isOndeviceError } from '../errors.js';
import { checkExternalData } from '../runtime/onnx-external.js';
import { CliError } from './cli-error.js';
import type { ManifestJson } from './manifest-file.js';

type OrtNode = typeof import('onnxruntime-node');
type Spec = { name: string; type: string; dims: Array<number | string> };
type Listed = { path: string; size: number; graph?: string };

export interface GraphRow {
  graph: string;
  variant: string;
  bytes: number;
  sizeRatio: number;
  maxAbsDiff: number;
  /** Why its outputs say nothing (NaN, infinity) where the reference's do, if so. */
  broken?: string;
}

/** A graph's files in a variant, its model first. */
export function graphFiles(manifest: ManifestJson, variant: string, graph: string | undefined): Listed[] {
  const files = (manifest.variants[variant]?.files ?? []) as Listed[];
  const own = graph === undefined ? files : files.filter((f) => f.graph === graph);
  const model = own.findIndex((f) => /\.onnx$/i.test(f.path));
  return model > 0 ? [own[model]!, ...own.filter((_, i) => i !== model)] : own;
}

/** Opens a graph's model with only its own files supplied (ORT reads external data from beside it). */
export async function openGraph(ort: OrtNode, dir: string, files: Listed[], what: string): Promise<import('onnxruntime-node').InferenceSession> {
  const path = join(dir, files[0]!.path);
  try {
    checkExternalData(new Uint8Array(await readFile(path)), files.slice(1).map((f) => f.path), path);
    return await ort.InferenceSession.create(path);
  } catch (error) {
    if (isOndeviceError(error)) throw new CliError(`${what}: ${error.message}`);
    throw new CliError(`onnxruntime-node cannot load ${what} (${path}): ${(error as Error).message}`);
  }
}

function fixedInputs(ort: OrtNode, specs: readonly Spec[]): Record<string, import('onnxruntime-node').Tensor> {
  let seed = 1;
  const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 30) - 1;
  return Object.fromEntries(
    specs.map((s) => {
      const dims = s.dims.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
      const n = dims.reduce((a, b) => a * b, 1);
      const data =
        s.type === 'float32' ? Float32Array.from({ length: n }, next)
        : s.type === 'int64' ? new BigInt64Array(n)
        : s.type === 'int32' ? new Int32Array(n)
        : s.type === 'float16' ? new Uint16Array(n)
        : s.type === 'bool' ? new Uint8Array(n)
        : undefined;
      if (!data) throw new CliError(`verify cannot make an input of type ${s.type} for "${s.name}"`);
      return [s.name, new ort.Tensor(s.type as 'float32', data as Float32Array, dims)];
    }),
  );
}

function floats(outputs: Record<string, import('onnxruntime-node').Tensor>): Float32Array[] {
  return Object.values(outputs).map((t) => (t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>, Number)));
}

/** Every graph of every variant against the reference variant's, on the same fixed inputs. */
export async function verifyGraphs(ort: OrtNode, manifest: ManifestJson, dir: string, reference: string): Promise<GraphRow[]> {
  const graphs = manifest['graphs'] as Record<string, { inputs: Spec[] }>;
  const rows: GraphRow[] = [];
  for (const [graph, { inputs }] of Object.entries(graphs)) {
    const feeds = fixedInputs(ort, inputs);
    const results = new Map<string, { outputs: Float32Array[]; bytes: number }>();
    for (const variant of Object.keys(manifest.variants)) {
      const files = graphFiles(manifest, variant, graph);
      const session = await openGraph(ort, dir, files, `graph ${graph} of the ${variant} variant`);
      try {
        const out = await session.run(feeds);
        const bytes = (await Promise.all(files.map(async (f) => (await stat(join(dir, f.path))).size))).reduce((a, b) => a + b, 0);
        results.set(variant, { outputs: floats(out), bytes });
      } finally {
        await session.release();
      }
    }
    const base = results.get(reference)!;
    for (const [variant, { outputs, bytes }] of results) {
      let max = 0;
      let broken: string | undefined;
      outputs.forEach((values, o) => {
        values.forEach((v, i) => {
          const want = base.outputs[o]![i]!;
          if (!Number.isFinite(v) && Number.isFinite(want)) broken ??= `${v} at output ${o}, index ${i}`;
          else max = Math.max(max, Math.abs(v - want));
        });
      });
      rows.push({ graph, variant, bytes, sizeRatio: bytes / base.bytes, maxAbsDiff: max, ...(broken && { broken }) });
    }
  }
  return rows;
}

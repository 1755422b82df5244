/// <reference types="node" />
/**
 * @file The folder layouts exporters write, read as one release: transformers.js / Optimum's
 * (`config.json`, `tokenizer.json`, … at the top, `onnx/<graph>[_quantized|_fp16|_q4|…].onnx` with
 * their `.onnx_data`) and a flat folder of `<graph>.onnx` files beside other files. Each ONNX file is
 * a graph named by its stem less the variant suffix; every other file is an asset. A folder of only
 * variant-named files (`fp32.onnx`, `int8.onnx`) is not a layout: it stays variants of one graph.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { graphOf } from '../manifest/repo-files.js';
import { GRAPH_NAME } from '../manifest/types.js';

export { graphOf };
import { CliError } from './cli-error.js';
import { externalLocations } from './external-data.js';
import { decodeModel } from './onnx-model.js';

/** Names a flat folder's files may carry as variants of one graph (see publish.ts). */
const VARIANT_STEMS = new Set(['fp32', 'fp16', 'bf16', 'int8', 'uint8', 'int4', 'uint4', 'q4', 'q4f16', 'quantized']);

/** Files that are not part of a model: skipped, and said so. */
const SKIPPED = (name: string) => name.startsWith('.') || /^readme(\.md)?$/i.test(name) || name === 'metadata.json';

export interface LayoutGraphFile {
  graph: string;
  variant: string;
  /** The `.onnx` file on disk (its external data is found from it). */
  path: string;
}

export interface Layout {
  /** Graph names, the default first. */
  graphs: string[];
  /** Variant → one file per graph, in `graphs` order. */
  variants: Map<string, LayoutGraphFile[]>;
  assets: { name: string; bytes: Uint8Array }[];
  /** What was left out, and why, for the publisher to read. */
  skipped: string[];
}

/** Default graph first: `model`, then encoders, then the rest, each by name. */
function graphOrder(a: string, b: string): number {
  const rank = (g: string) => (g === 'model' ? 0 : /encoder/i.test(g) ? 1 : 2);
  return rank(a) - rank(b) || a.localeCompare(b);
}

async function files(dir: string): Promise<{ name: string; dir: boolean }[]> {
  return (await readdir(dir, { withFileTypes: true })).map((e) => ({ name: e.name, dir: e.isDirectory() })).sort((a, b) => a.name.localeCompare(b.name));
}

/** The layout in `folder`, or `undefined` when the folder is one graph's variants, a single file, or not a folder. */
export async function readLayout(folder: string): Promise<Layout | undefined> {
  if (!(await stat(folder).catch(() => undefined))?.isDirectory()) return undefined;
  const top = await files(folder);
  const nested = top.some((e) => e.dir && e.name === 'onnx');
  const onnxDir = nested ? join(folder, 'onnx') : folder;
  const inOnnx = nested ? await files(onnxDir) : top;
  const models = inOnnx.filter((e) => !e.dir && /\.onnx$/i.test(e.name)).map((e) => e.name);
  if (models.length === 0) return undefined;
  const others = top.filter((e) => !e.dir && !/\.onnx(_data)?$/i.test(e.name) && !/\.data$/i.test(e.name) && !SKIPPED(e.name));
  // Variants of one graph, as publish has always read them: not a layout.
  if (!nested && others.length === 0 && (models.length === 1 || models.every((m) => VARIANT_STEMS.has(basename(m, '.onnx'))))) return undefined;

  const skipped: string[] = [];
  const byVariant = new Map<string, Map<string, string>>();
  for (const model of models) {
    const { graph, variant } = graphOf(model);
    if (!GRAPH_NAME.test(graph)) throw new CliError(`${join(onnxDir, model)}: "${graph}" cannot name a graph (letters, digits, ".", "_" and "-", starting with a letter or digit); rename the file`);
    if (!byVariant.has(variant)) byVariant.set(variant, new Map());
    const taken = byVariant.get(variant)!.get(graph);
    if (taken) throw new CliError(`${model} and ${taken} are both graph "${graph}" of variant ${variant}; keep one of them`);
    byVariant.get(variant)!.set(graph, model);
  }
  const graphs = [...new Set([...byVariant.values()].flatMap((m) => [...m.keys()]))].sort(graphOrder);
  const variants = new Map<string, LayoutGraphFile[]>();
  for (const [variant, found] of [...byVariant].sort(([a], [b]) => (a === 'fp32' ? -1 : b === 'fp32' ? 1 : a.localeCompare(b)))) {
    const missing = graphs.filter((g) => !found.has(g));
    if (missing.length > 0) {
      skipped.push(`variant ${variant} (${[...found.values()].join(', ')}): it lacks graph${missing.length > 1 ? 's' : ''} ${missing.join(', ')}, and a variant carries every graph`);
      continue;
    }
    variants.set(variant, graphs.map((graph) => ({ graph, variant, path: join(onnxDir, found.get(graph)!) })));
  }
  if (variants.size === 0) throw new CliError(`${folder}: no variant has every graph (${graphs.join(', ')}); ${skipped.join('; ')}`);

  // External data that some graph names is published with it; any other file in onnx/ is left out.
  const named = new Set<string>();
  for (const file of [...variants.values()].flat()) {
    for (const location of externalLocations(decodeModel(await readFile(file.path), file.path))) named.add(basename(location));
  }
  for (const entry of inOnnx) {
    if (entry.dir) skipped.push(`${join(onnxDir, entry.name)}/ (a folder)`);
    else if (!/\.onnx$/i.test(entry.name) && !named.has(entry.name) && nested) skipped.push(`${join(onnxDir, entry.name)} (no graph names it)`);
  }
  const assets: Layout['assets'] = [];
  for (const entry of top) {
    if (entry.dir) {
      if (entry.name !== 'onnx') skipped.push(`${join(folder, entry.name)}/ (a folder)`);
    } else if (SKIPPED(entry.name)) {
      if (entry.name !== 'metadata.json') skipped.push(join(folder, entry.name));
    } else if (nested || !(/\.onnx$/i.test(entry.name) || named.has(entry.name))) {
      if (!nested && /\.(onnx_data|data)$/i.test(entry.name)) skipped.push(`${join(folder, entry.name)} (no graph names it)`);
      else assets.push({ name: entry.name, bytes: await readFile(join(folder, entry.name)) });
    }
  }
  return { graphs, variants, assets, skipped };
}

/**
 * @file A release's parts once resolved: its files split by graph (each graph's `.onnx` first, then
 * its external data) and its assets by name; and the loaded model as one session per graph behind
 * the single-session interface the rest of the pipeline knows (the first graph is the default).
 */
import type { ModelFileBytes } from '../cache/files.js';
import type { Manifest } from '../manifest/types.js';
import type { RuntimeSession } from '../runtime/types.js';
import type { AssetInfo, GraphInfo, TensorMap, TensorSpec } from '../types.js';

/** The name of the one graph of a single-graph release (transformers.js names such a file `model.onnx`). */
export const SINGLE_GRAPH = 'model';

export interface ReleaseParts {
  /** In the manifest's order; the first is the default. */
  graphs: { name: string; files: ModelFileBytes[] }[];
  assets: Map<string, Uint8Array>;
}

/** How many files of a version are its variant's (the rest, after them, are its assets). */
export function variantFileCount(manifest: Manifest | undefined, variant: string | null, total: number): number {
  if (!manifest || variant === null) return total;
  return manifest.variants[variant]?.files.length ?? total;
}

/** Splits a version's files (the variant's in the manifest's order, then the assets'; see update/resolve.ts). */
export function releaseParts(files: readonly ModelFileBytes[], manifest: Manifest | undefined, variant: string | null): ReleaseParts {
  const split = splitRelease(files, manifest, variant);
  return { graphs: split.graphs, assets: new Map([...split.assets].map(([name, file]) => [name, file.bytes])) };
}

/** `releaseParts` for any kind of file entry (bytes, or a file to open later). */
export function splitRelease<F extends { path: string }>(files: readonly F[], manifest: Manifest | undefined, variant: string | null): { graphs: { name: string; files: F[] }[]; assets: Map<string, F> } {
  const count = variantFileCount(manifest, variant, files.length);
  const own = files.slice(0, count);
  const assets = new Map<string, F>();
  manifest?.assets.forEach((asset, i) => {
    const file = files[count + i];
    if (file) assets.set(asset.name, file);
  });
  if (!manifest?.graphs || variant === null) return { graphs: [{ name: SINGLE_GRAPH, files: own }], assets };
  const listed = manifest.variants[variant]!.files;
  const graphs = Object.keys(manifest.graphs).map((name) => {
    const mine = own.filter((_, i) => listed[i]!.graph === name);
    // The runtime takes the graph's model first and its external data after, whatever the manifest's order.
    const model = mine.findIndex((f) => /\.onnx$/i.test(f.path));
    return { name, files: model > 0 ? [mine[model]!, ...mine.filter((_, i) => i !== model)] : mine };
  });
  return { graphs, assets };
}

/** What `info.assets` says of a release. */
export function assetInfo(manifest: Manifest | undefined): AssetInfo[] {
  return (manifest?.assets ?? []).map((a) => ({ name: a.name, size: a.size }));
}

/** A loaded model: one session per graph, the first the default. */
export class GraphSessions implements RuntimeSession {
  readonly graphs: ReadonlyMap<string, RuntimeSession>;
  readonly #default: RuntimeSession;
  readonly runtimeVersion?: string;

  constructor(graphs: ReadonlyMap<string, RuntimeSession>) {
    this.graphs = graphs;
    this.#default = graphs.values().next().value!;
    if (this.#default.runtimeVersion !== undefined) this.runtimeVersion = this.#default.runtimeVersion;
  }

  get inputs(): readonly TensorSpec[] {
    return this.#default.inputs;
  }

  get outputs(): readonly TensorSpec[] {
    return this.#default.outputs;
  }


  /** What `info.graphs` says. */
  info(): Record<string, GraphInfo> {
    return Object.fromEntries([...this.graphs].map(([name, s]) => [name, { inputs: s.inputs, outputs: s.outputs }]));
  }

  run(inputs: TensorMap): Promise<TensorMap> {
    return this.#default.run(inputs);
  }

  async release(): Promise<void> {
    await Promise.all([...this.graphs.values()].map((s) => s.release().catch(() => undefined)));
  }
}

/**
 * Creates every graph's session, one after another (two large graphs compiling at once would double
 * the peak memory); one that fails releases those already made, so a backend runs all or none.
 */
export async function createGraphs(graphs: ReleaseParts['graphs'], create: (files: ModelFileBytes[]) => Promise<RuntimeSession>): Promise<GraphSessions> {
  const made = new Map<string, RuntimeSession>();
  try {
    for (const graph of graphs) made.set(graph.name, await create(graph.files));
  } catch (error) {
    await Promise.all([...made.values()].map((s) => s.release().catch(() => undefined)));
    throw error;
  }
  return new GraphSessions(made);
}

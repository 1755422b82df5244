/// <reference types="node" />
/**
 * @file ONNX external data for `publish`: the weight files a model names (as exporters write them:
 * `model.onnx` + `model.onnx_data`, `model.onnx.data`, `weights.bin`), read from beside the model and
 * renamed to their content-hashed release names; and `--external-data`, which moves a model's
 * embedded weights out into one such file (the loader hands ORT the model and its data separately,
 * which spares a copy of the weights in memory when the session is built).
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { CliError } from './cli-error.js';
import { encodeModel, type Onnx } from './onnx-model.js';

const EXTERNAL = 1;

/** Tensors below this stay inside the model (onnx's own default threshold for external data). */
const MIN_EXTERNAL_BYTES = 1024;

/** Offsets of moved tensors are aligned so that any element type can be viewed in place. */
const ALIGN = 64;

/** Every tensor of a graph: initializers, `Constant` values, and those of subgraphs (If, Loop, Scan). */
function* tensors(graph: Onnx.IGraphProto | null | undefined): Generator<Onnx.ITensorProto> {
  if (!graph) return;
  yield* graph.initializer ?? [];
  for (const node of graph.node ?? []) {
    for (const attribute of node.attribute ?? []) {
      if (attribute.t) yield attribute.t;
      yield* attribute.tensors ?? [];
      yield* tensors(attribute.g);
      for (const g of attribute.graphs ?? []) yield* tensors(g);
    }
  }
}

const entry = (tensor: Onnx.ITensorProto, key: string) => tensor.externalData?.find((e) => e.key === key)?.value ?? undefined;

/** The data files a model's tensors name, by their `location`, in order of first use. */
export function externalLocations(model: Onnx.ModelProto): string[] {
  const locations = new Set<string>();
  for (const tensor of tensors(model.graph)) {
    if (tensor.dataLocation !== EXTERNAL) continue;
    const location = entry(tensor, 'location');
    if (!location) throw new CliError(`tensor ${tensor.name ?? '?'} is stored as external data but names no location; re-export the model`);
    locations.add(location);
  }
  return [...locations];
}

/**
 * Reads the data files `locations` from beside the model at `modelPath`. A location is a path relative
 * to the model's folder; one that leaves it (absolute, or through `..`) is refused, as ORT does.
 */
/**
 * Files no exporter writes as weights: hidden files and keys, credentials, configs and sources. A
 * model from elsewhere that names one (`.env`, `private.jwk`, `package.json`) would have publish or
 * quantize copy it into a release.
 */
const NOT_WEIGHTS = /(^|[\\/])\.|\.(jwk|pem|key|p12|pfx|crt|json|js|mjs|cjs|ts|env|sh|npmrc|ya?ml|toml|ini|cfg|conf)$/i;

export async function readExternalData(modelPath: string, locations: readonly string[]): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for (const location of locations) {
    const relative = normalize(location);
    if (isAbsolute(location) || relative === '..' || relative.startsWith(`..${sep}`)) {
      throw new CliError(`${modelPath} names external data at "${location}", outside its folder; ORT refuses such a path, so publish would too`);
    }
    if (NOT_WEIGHTS.test(relative)) {
      throw new CliError(`${modelPath} names external data ("${location}") that is not a weights file an exporter writes (a hidden file, or a key, config or source file): refused, so that a model from elsewhere cannot copy it into a release. If it really holds weights, rename it (model.onnx_data, weights.bin) and re-save the model.`);
    }
    const path = join(dirname(modelPath), relative);
    const bytes = await readFile(path).catch(() => {
      throw new CliError(`${modelPath} keeps its weights in "${location}" (ONNX external data), but ${path} cannot be read; keep the data file next to the model`);
    });
    files.set(location, new Uint8Array(bytes));
  }
  return files;
}

/** Checks that every external tensor lies inside its file, so a truncated data file is caught here, not on devices. */
export function checkExtents(model: Onnx.ModelProto, files: ReadonlyMap<string, Uint8Array>, modelPath: string): void {
  for (const tensor of tensors(model.graph)) {
    if (tensor.dataLocation !== EXTERNAL) continue;
    const location = entry(tensor, 'location')!;
    const size = files.get(location)?.length ?? 0;
    const offset = Number(entry(tensor, 'offset') ?? 0);
    const length = entry(tensor, 'length');
    const end = length === undefined ? size : offset + Number(length);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(end) || offset < 0 || end > size) {
      throw new CliError(`${modelPath}: tensor ${tensor.name ?? '?'} lies at bytes ${offset}–${end} of "${location}", which has ${size}; is the data file truncated or from another export?`);
    }
  }
}

/** Points the model's external tensors at their release names; returns the model's new bytes. */
export function relocate(model: Onnx.ModelProto, renamed: ReadonlyMap<string, string>): Uint8Array {
  for (const tensor of tensors(model.graph)) {
    if (tensor.dataLocation !== EXTERNAL) continue;
    for (const e of tensor.externalData ?? []) if (e.key === 'location' && e.value) e.value = renamed.get(e.value) ?? e.value;
  }
  return encodeModel(model);
}

/**
 * Moves every embedded tensor of at least 1 kB (its `raw_data`) into one data file named `location`,
 * at 64-byte aligned offsets; the model keeps their names, shapes and types. `undefined` if no tensor
 * is that large. The model is changed in place.
 */
export function externalize(model: Onnx.ModelProto, location: string): { model: Uint8Array; data: Uint8Array } | undefined {
  const moved = [...tensors(model.graph)].filter((t) => t.dataLocation !== EXTERNAL && (t.rawData?.length ?? 0) >= MIN_EXTERNAL_BYTES);
  if (moved.length === 0) return undefined;
  let size = 0;
  const offsets = moved.map((t) => {
    const at = Math.ceil(size / ALIGN) * ALIGN;
    size = at + t.rawData!.length;
    return at;
  });
  const data = new Uint8Array(size);
  moved.forEach((tensor, i) => {
    const raw = tensor.rawData!;
    data.set(raw, offsets[i]);
    tensor.rawData = null;
    tensor.dataLocation = EXTERNAL;
    tensor.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: String(offsets[i]) },
      { key: 'length', value: String(raw.length) },
    ];
  });
  return { model: encodeModel(model), data };
}

/**
 * Brings every external tensor's bytes back inside the model (its `raw_data`), from `files` (as
 * `readExternalData` read them, extents checked): for the tools that rewrite weights (quantize).
 */
export function internalize(model: Onnx.ModelProto, files: ReadonlyMap<string, Uint8Array>): void {
  for (const tensor of tensors(model.graph)) {
    if (tensor.dataLocation !== EXTERNAL) continue;
    const data = files.get(entry(tensor, 'location')!)!;
    const offset = Number(entry(tensor, 'offset') ?? 0);
    const length = entry(tensor, 'length');
    tensor.rawData = data.slice(offset, length === undefined ? data.length : offset + Number(length));
    tensor.dataLocation = 0;
    tensor.externalData = [];
  }
}

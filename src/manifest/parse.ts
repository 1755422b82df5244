/** @file Validates a parsed `ondevice/1` manifest; every failure is `MANIFEST_INVALID` naming the field. */
import { OndeviceError } from '../errors.js';
import type { TensorSpec } from '../types.js';
import { compareVersionStrings, parseVersion } from './semver.js';
import { GRAPH_NAME, MANIFEST_FORMAT, MAX_FILE_BYTES, RUNTIMES, VARIANT_NAME, type Manifest, type ManifestAsset, type ManifestFile, type ManifestGraph, type ManifestVariant, type Rollout, type RuntimeName } from './types.js';

const SHA256_HEX = /^[0-9a-f]{64}$/;

type Json = Record<string, unknown>;

/**
 * Checks `value` (the manifest's parsed JSON) and resolves its file paths against `manifestUrl`.
 * Unknown fields are ignored. File paths must stay on the manifest's origin: the library makes no
 * request except to the model host the app named.
 */
export function parseManifest(value: unknown, manifestUrl: string): Manifest {
  const where = { url: manifestUrl };
  const root = object(value, '(root)', where);
  if (root['format'] !== MANIFEST_FORMAT) {
    fail('format', `must be "${MANIFEST_FORMAT}", got ${show(root['format'])}`, where);
  }
  const runtime = root['runtime'];
  if (!RUNTIMES.includes(runtime as RuntimeName)) {
    fail('runtime', `must be one of ${RUNTIMES.map((r) => `"${r}"`).join(', ')}, got ${show(runtime)}`, where);
  }
  const version = string(root['version'], 'version', where);
  if (!parseVersion(version)) fail('version', `must be a semantic version such as "1.2.0", got ${show(version)}`, where);
  const graphList = root['graphs'] === undefined ? null : graphs(root['graphs'], where);
  const first = graphList && Object.values(graphList)[0];
  return {
    format: MANIFEST_FORMAT,
    name: string(root['name'], 'name', where),
    version,
    runtime: runtime as RuntimeName,
    variants: variants(root['variants'], manifestUrl, graphList),
    // With graphs, the top level's inputs and outputs default to the default graph's.
    inputs: first && root['inputs'] === undefined ? first.inputs : tensorSpecs(root['inputs'], 'inputs', where),
    outputs: first && root['outputs'] === undefined ? first.outputs : tensorSpecs(root['outputs'], 'outputs', where),
    graphs: graphList,
    assets: root['assets'] === undefined ? [] : assets(root['assets'], manifestUrl),
    metadata: root['metadata'] === undefined ? {} : object(root['metadata'], 'metadata', where),
    revoked: root['revoked'] === undefined ? [] : stringArray(root['revoked'], 'revoked', where),
    expires: root['expires'] === undefined ? null : expires(root['expires'], where),
    rollout: root['rollout'] === undefined ? null : rollout(root['rollout'], version, where),
  };
}

/** An ISO 8601 date-time with its offset, e.g. "2026-12-25T00:00:00Z". */
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function expires(value: unknown, where: Json): number {
  const text = string(value, 'expires', where);
  const ms = ISO_DATE_TIME.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms)) fail('expires', `must be an ISO 8601 date-time with an offset, such as "2026-12-25T00:00:00Z", got ${show(text)}`, where);
  return ms;
}

function rollout(value: unknown, version: string, where: Json): Rollout {
  const root = object(value, 'rollout', where);
  const percent = root['percent'];
  if (typeof percent !== 'number' || !Number.isFinite(percent) || percent < 0 || percent > 100) fail('rollout.percent', `must be a number from 0 to 100, got ${show(percent)}`, where);
  // A version name, never a path: it names the file manifest.<previous>.json next to this one.
  const previous = string(root['previous'], 'rollout.previous', where);
  if (!parseVersion(previous)) fail('rollout.previous', `must be a semantic version such as "1.2.0", got ${show(previous)}`, where);
  if (compareVersionStrings(previous, version) >= 0) fail('rollout.previous', `must be below the manifest's version ${version}, got ${show(previous)}`, where);
  return { percent, previous };
}

function graphs(value: unknown, where: Json): Record<string, ManifestGraph> {
  const entries = Object.entries(object(value, 'graphs', where));
  if (entries.length === 0) fail('graphs', 'must name at least one graph (or be left out for a release of one graph)', where);
  const result: Record<string, ManifestGraph> = Object.create(null) as Record<string, ManifestGraph>;
  for (const [name, raw] of entries) {
    const field = `graphs.${name}`;
    if (!GRAPH_NAME.test(name)) fail(field, `is not a graph name: use the model file's stem, of letters, digits, ".", "_" and "-", starting with a letter or digit; got ${show(name)}`, where);
    const graph = object(raw, field, where);
    result[name] = { inputs: tensorSpecs(graph['inputs'], `${field}.inputs`, where), outputs: tensorSpecs(graph['outputs'], `${field}.outputs`, where) };
  }
  return result;
}

/** Plain file names only: an asset's name is what the app asks for, never a path. */
const ASSET_NAME = /^(?!\.\.?$)[^/\\\0]{1,255}$/;

function assets(value: unknown, manifestUrl: string): ManifestAsset[] {
  const where = { url: manifestUrl };
  const seen = new Set<string>();
  return array(value, 'assets', where).map((raw, i) => {
    const field = `assets[${i}]`;
    const name = string(object(raw, field, where)['name'], `${field}.name`, where);
    if (!ASSET_NAME.test(name)) fail(`${field}.name`, `must be a plain file name (no "/", not "." or ".."), got ${show(name)}`, where);
    if (seen.has(name)) fail(`${field}.name`, `names ${show(name)} a second time; asset names are unique`, where);
    seen.add(name);
    const { graph: _ignored, ...file } = manifestFile(raw, field, manifestUrl, null);
    return { name, ...file };
  });
}

function variants(value: unknown, manifestUrl: string, graphList: Record<string, ManifestGraph> | null): Record<string, ManifestVariant> {
  const where = { url: manifestUrl };
  const entries = Object.entries(object(value, 'variants', where));
  if (entries.length === 0) fail('variants', 'must name at least one variant', where);
  // No prototype: a name read from the network is a key like any other.
  const result: Record<string, ManifestVariant> = Object.create(null) as Record<string, ManifestVariant>;
  for (const [name, raw] of entries) {
    const field = `variants.${name}`;
    if (!VARIANT_NAME.test(name)) fail(field, `is not a variant name: use lowercase letters, digits, "-" and "_" (e.g. "fp32", "int8"), got ${show(name)}`, where);
    const variant = object(raw, field, where);
    const files = array(variant['files'], `${field}.files`, where);
    if (files.length === 0) fail(`${field}.files`, 'must list at least one file', where);
    const parsed = files.map((file, i) => manifestFile(file, `${field}.files[${i}]`, manifestUrl, graphList));
    // Every variant has every graph: a device never runs one graph of a variant with another's.
    for (const graph of Object.keys(graphList ?? {})) {
      if (!parsed.some((f) => f.graph === graph)) fail(`${field}.files`, `has no file of graph "${graph}"; every variant has every graph`, where);
    }
    result[name] = {
      files: parsed,
      requires: variant['requires'] === undefined ? [] : stringArray(variant['requires'], `${field}.requires`, where),
    };
  }
  return result;
}

function manifestFile(value: unknown, field: string, manifestUrl: string, graphList: Record<string, ManifestGraph> | null): ManifestFile {
  const where = { url: manifestUrl };
  const file = object(value, field, where);
  const path = string(file['path'], `${field}.path`, where);
  const url = new URL(path, manifestUrl);
  if (url.origin !== new URL(manifestUrl).origin) {
    fail(`${field}.path`, `must be a path relative to the manifest, on its host; got ${show(path)}`, where);
  }
  const size = file['size'];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    fail(`${field}.size`, `must be the file's size in bytes (a non-negative integer), got ${show(size)}`, where);
  }
  if (size > MAX_FILE_BYTES) fail(`${field}.size`, `is ${size} bytes, more than any device can hold (the limit is ${MAX_FILE_BYTES}); split the model into several files`, where);
  const sha256 = file['sha256'];
  if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256)) {
    fail(`${field}.sha256`, `must be 64 lowercase hex digits, got ${show(sha256)}`, where);
  }
  const graph = file['graph'];
  if (graphList) {
    if (typeof graph !== 'string' || !Object.hasOwn(graphList, graph)) fail(`${field}.graph`, `must name one of the release's graphs (${Object.keys(graphList).join(', ')}), got ${show(graph)}`, where);
    return { path, url: url.href, size, sha256, graph };
  }
  if (graph !== undefined) fail(`${field}.graph`, `names a graph, but the manifest has no "graphs"; list them there, or leave the field out for a release of one graph`, where);
  return { path, url: url.href, size, sha256 };
}

function tensorSpecs(value: unknown, field: string, where: Json): TensorSpec[] {
  return array(value, field, where).map((raw, i) => {
    const spec = object(raw, `${field}[${i}]`, where);
    const dims = array(spec['dims'], `${field}[${i}].dims`, where);
    dims.forEach((d, j) => {
      const ok = typeof d === 'string' || (typeof d === 'number' && Number.isSafeInteger(d) && d >= 0);
      if (!ok) fail(`${field}[${i}].dims[${j}]`, `must be a non-negative integer or a name, got ${show(d)}`, where);
    });
    return {
      name: string(spec['name'], `${field}[${i}].name`, where),
      type: string(spec['type'], `${field}[${i}].type`, where),
      dims: dims as Array<number | string>,
    };
  });
}

function object(value: unknown, field: string, where: Json): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, `must be an object, got ${show(value)}`, where);
  return value as Json;
}

function array(value: unknown, field: string, where: Json): unknown[] {
  if (!Array.isArray(value)) fail(field, `must be an array, got ${show(value)}`, where);
  return value;
}

function string(value: unknown, field: string, where: Json): string {
  if (typeof value !== 'string' || value.length === 0) fail(field, `must be a non-empty string, got ${show(value)}`, where);
  return value;
}

function stringArray(value: unknown, field: string, where: Json): string[] {
  return array(value, field, where).map((item, i) => string(item, `${field}[${i}]`, where));
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function fail(field: string, problem: string, where: Json): never {
  throw new OndeviceError('MANIFEST_INVALID', `Manifest field "${field}" ${problem}. Fix the manifest at ${String(where['url'])}.`, {
    details: { ...where, field },
  });
}

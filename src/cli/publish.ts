/// <reference types="node" />
/**
 * @file `ondevice publish`: a folder of model variants → a release folder any static host can serve:
 * content-hashed files (immutable), the `ondevice/1` manifest (the only mutable file, written last
 * and atomically), and the HTTP caching headers for them.
 */
import { VARIANT_NAME } from '../manifest/types.js';
import { createHash } from 'node:crypto';
import { access, mkdir, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { compareVersionStrings, parseVersion } from '../manifest/semver.js';
import { CliError } from './cli-error.js';
import { readManifestFile, writeAtomically, type ManifestJson } from './manifest-file.js';
import { checkExtents, externalize, externalLocations, readExternalData, relocate } from './external-data.js';
import { decodeModel, modelSignature } from './onnx-model.js';
import { finish, type Freshness, type SigningKey } from './sign.js';
import { readTfjsVariants, tfjsSignature, type TfjsVariant } from './tfjs-model.js';
import { readLayout, type Layout } from './publish-layout.js';

export interface PublishOptions {
  version: string;
  /** @default the model folder's name, or the model file's name without its extension */
  name?: string | undefined;
  /** The variant a single model file is published as. @default 'fp32' */
  variant?: string | undefined;
  /** The manifest's `expires` (ISO 8601). @default none */
  expires?: string | undefined;
  /** Where warnings go (a signed manifest with no `expires`). */
  warn?: ((text: string) => void) | undefined;
  /** Signs manifest.json and the per-version manifest. */
  signer?: SigningKey | undefined;
  /** Moves embedded ONNX weights out into a `.data` file per variant (ONNX external data). @default false */
  externalData?: boolean | undefined;
}

export interface PublishResult {
  manifest: ManifestJson;
  written: string[];
  /** Files of an exporter's layout left out, each with why (dotfiles, README.md, an incomplete variant). */
  skipped: string[];
}

type Signature = { inputs: unknown[]; outputs: unknown[] };
type PublishedFile = { suffix: string; bytes: Uint8Array; graph?: string };

/** A variant's files as published: content-hashed names, model.json first for TF.js, each graph's `.onnx` before its data. */
type Release = {
  runtime: 'onnx' | 'tfjs-layers' | 'tfjs-graph';
  variants: Map<string, PublishedFile[]>;
  signature: Signature;
  /** A release with several graphs (or an exporter's layout): each graph's signature, the default first. */
  graphs?: Map<string, Signature>;
  assets?: { name: string; bytes: Uint8Array }[];
  skipped?: string[];
};

/** Variant names a folder's files may carry; any other name is a model's own name, not a variant. */
const VARIANT_FILES = new Set(['fp32', 'fp16', 'bf16', 'int8', 'uint8', 'int4', 'uint4', 'q4', 'q4f16', 'quantized']);

/**
 * The ONNX variants to publish: one file (any name; variant `--variant`, default fp32), or a folder
 * with one file per variant named after it (`fp32.onnx`, `int8.onnx`, `fp16.onnx`). A lone file of
 * another name in a folder is fp32; several differently named models are an error, never variants
 * named after files.
 */
async function readVariants(modelPath: string, variant: string | undefined): Promise<Map<string, OnnxFile>> {
  if (modelPath.endsWith('.onnx') && (await stat(modelPath).catch(() => undefined))?.isFile()) {
    return new Map([[variant ?? 'fp32', await readOnnx(modelPath)]]);
  }
  let names: string[];
  try {
    names = (await readdir(modelPath)).filter((f) => f.endsWith('.onnx')).sort();
  } catch {
    throw new CliError(`cannot read the model folder ${modelPath}`);
  }
  if (names.length === 0) throw new CliError(`${modelPath} holds no model: no .onnx file (fp32.onnx, int8.onnx, ...) and no TF.js model.json; pass the model file itself, or a folder holding it`);
  if (names.length === 1) {
    const only = basename(names[0]!, '.onnx');
    return new Map([[variant ?? (VARIANT_FILES.has(only) ? only : 'fp32'), await readOnnx(join(modelPath, names[0]!))]]);
  }
  const unknown = names.filter((f) => !VARIANT_FILES.has(basename(f, '.onnx')));
  if (unknown.length > 0) {
    throw new CliError(`${unknown.join(', ')}: ${modelPath} holds several models; name each file after its variant (fp32.onnx, int8.onnx, fp16.onnx), or publish one model file at a time`);
  }
  if (variant !== undefined) throw new CliError(`--variant names the variant of one model file; ${modelPath} already names ${names.length} variants by their files`, 2);
  const variants = new Map<string, OnnxFile>();
  for (const file of names) variants.set(basename(file, '.onnx'), await readOnnx(join(modelPath, file)));
  return variants;
}

interface OnnxFile {
  path: string;
  bytes: Uint8Array;
}

async function readOnnx(path: string): Promise<OnnxFile> {
  const bytes = await readFile(path).catch(() => {
    throw new CliError(`cannot read ${path}`);
  });
  decodeModel(bytes, path);
  return { path, bytes };
}

const sha256Of = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * A variant's files as published: the model first, then its external data under content-hashed
 * names the model is rewritten to use. `split`: embedded weights are moved out into one data file.
 */
async function onnxFiles(file: OnnxFile, name: string, variant: string, split: boolean): Promise<{ suffix: string; bytes: Uint8Array }[]> {
  const model = decodeModel(file.bytes, file.path);
  const locations = externalLocations(model);
  let data: Map<string, Uint8Array>;
  if (locations.length > 0) {
    data = await readExternalData(file.path, locations);
    checkExtents(model, data, file.path);
  } else {
    const moved = split ? externalize(model, 'weights') : undefined;
    if (!moved) return [{ suffix: '.onnx', bytes: file.bytes }];
    data = new Map([['weights', moved.data]]);
  }
  const renamed = new Map([...data].map(([location, bytes]) => [location, hashedName(name, variant, sha256Of(bytes), '.data')]));
  return [{ suffix: '.onnx', bytes: relocate(model, renamed) }, ...[...data.values()].map((bytes) => ({ suffix: '.data', bytes }))];
}

async function readMetadata(modelDir: string): Promise<Record<string, unknown> | undefined> {
  const path = join(modelDir, 'metadata.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new CliError(`${path} must be a JSON object`);
}

async function writable(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    const probe = join(dir, `.ondevice-write-test-${process.pid}`);
    await writeFile(probe, '');
    await unlink(probe);
  } catch (error) {
    throw new CliError(`the release folder ${dir} is not writable (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); nothing was written`);
  }
}

export async function publish(modelDir: string, releaseDir: string, options: PublishOptions): Promise<PublishResult> {
  if (!parseVersion(options.version)) throw new CliError(`--version must be a semantic version such as 1.2.0, got "${options.version}"`, 2);
  if (options.variant !== undefined && !VARIANT_NAME.test(options.variant)) throw new CliError(`--variant must be a variant name such as fp32 or int8 (lowercase letters, digits, - and _), got "${options.variant}"`, 2);
  const name = options.name ?? basename(resolve(modelDir)).replace(/\.(onnx|json)$/i, '');
  // Everything is read and checked before anything is written.
  const layout = await readLayout(modelDir);
  if (layout && options.variant !== undefined) throw new CliError(`--variant names the variant of one model file; ${modelDir} names its variants by its files (_quantized, _fp16, ...)`, 2);
  const tfjs = layout ? undefined : await readTfjsVariants(modelDir, options.variant);
  if (tfjs && options.externalData) throw new CliError('--external-data is for ONNX models; a TF.js model keeps its weights in shards already', 2);
  const release = layout ? await layoutRelease(layout, options.externalData === true) : tfjs ? await tfjsRelease(tfjs, name) : await onnxRelease(modelDir, options.variant, name, options.externalData === true);
  const metadata = (await stat(modelDir).catch(() => undefined))?.isDirectory() ? await readMetadata(modelDir) : undefined;
  const previous = await readManifestFile(releaseDir).then(
    (m) => m.manifest,
    (error: unknown) => {
      if (error instanceof CliError && /does not exist/.test(error.message)) return undefined;
      throw error;
    },
  );
  if (previous && previous.name !== name) throw new CliError(`${releaseDir} publishes "${previous.name}", not "${name}"; use --name ${previous.name} or another folder`);
  if (previous && compareVersionStrings(options.version, previous.version) <= 0) {
    throw new CliError(
      options.version === previous.version
        ? `version ${options.version} is already published in ${releaseDir}; a published version never changes: publish a new version`
        : `version ${options.version} is older than the published ${previous.version}; versions only move forward`,
    );
  }
  await writable(releaseDir);

  const written: string[] = [];
  const manifestVariants: ManifestJson['variants'] = {};
  for (const [variant, files] of release.variants) {
    const listed = [];
    for (const { suffix, bytes, graph } of files) {
      const sha256 = sha256Of(bytes);
      const path = hashedName(graph ?? name, variant, sha256, suffix);
      if (await writeOnce(join(releaseDir, path), bytes)) written.push(path);
      listed.push({ path, size: bytes.length, sha256, ...(graph !== undefined && { graph }) });
    }
    // No `requires`: quantize's variants compute in float32 and run on every backend.
    manifestVariants[variant] = { files: listed };
  }
  const assets = [];
  for (const { name: assetName, bytes } of release.assets ?? []) {
    const sha256 = sha256Of(bytes);
    const dot = assetName.lastIndexOf('.');
    const path = dot > 0 ? `${assetName.slice(0, dot)}.${sha256.slice(0, 8)}${assetName.slice(dot)}` : `${assetName}.${sha256.slice(0, 8)}`;
    if (await writeOnce(join(releaseDir, path), bytes)) written.push(path);
    assets.push({ name: assetName, path, size: bytes.length, sha256 });
  }
  const manifest: ManifestJson = {
    format: 'ondevice/1',
    name,
    version: options.version,
    runtime: release.runtime,
    variants: manifestVariants,
    inputs: release.signature.inputs,
    outputs: release.signature.outputs,
    ...(release.graphs && { graphs: Object.fromEntries(release.graphs) }),
    ...(assets.length > 0 && { assets }),
    ...(metadata && { metadata }),
    revoked: previous?.revoked ?? [],
    ...(options.expires && { expires: options.expires }),
  };
  const signed = await finish(manifest, options.signer, 'manifest.json', { warn: options.warn });
  const text = `${JSON.stringify(signed, null, 2)}\n`;
  // Each version's manifest stays readable (for revoke and rollbacks); files of earlier versions are never deleted.
  await writeAtomically(join(releaseDir, `manifest.${options.version}.json`), text);
  await writeHeaders(releaseDir, await hashedOtherFiles(releaseDir));
  await writeAtomically(join(releaseDir, 'manifest.json'), text);
  written.push(`manifest.${options.version}.json`, '_headers', 'nginx.conf', 'manifest.json');
  return { manifest: signed, written, skipped: release.skipped ?? [] };
}

/** Writes a content-hashed file unless it is already there (an earlier version's); says whether it wrote. */
async function writeOnce(target: string, bytes: Uint8Array): Promise<boolean> {
  if ((await stat(target).catch(() => undefined))?.size === bytes.length) return false;
  await writeAtomically(target, bytes);
  return true;
}

/** An exporter's layout: every graph of every complete variant (with its external data), and the assets. */
async function layoutRelease(layout: Layout, split: boolean): Promise<Release> {
  const variants = new Map<string, PublishedFile[]>();
  const graphs = new Map<string, Signature>();
  for (const [variant, files] of layout.variants) {
    const published: PublishedFile[] = [];
    for (const file of files) {
      const onnx = await readOnnx(file.path);
      const signature = modelSignature(decodeModel(onnx.bytes, file.path));
      const known = graphs.get(file.graph);
      if (!known) graphs.set(file.graph, signature);
      else if (!sameNames(known, signature)) throw new CliError(`${file.path} has other inputs or outputs than graph ${file.graph} of the other variants; every variant must be the same model`);
      for (const part of await onnxFiles(onnx, file.graph, variant, split)) published.push({ ...part, graph: file.graph });
    }
    variants.set(variant, published);
  }
  const ordered = new Map(layout.graphs.map((g) => [g, graphs.get(g)!]));
  return { runtime: 'onnx', variants, signature: ordered.values().next().value!, graphs: ordered, assets: layout.assets, skipped: layout.skipped };
}

function sameNames(a: Signature, b: Signature): boolean {
  const names = (s: Signature) => JSON.stringify([(s.inputs as { name: string }[]).map((i) => i.name), (s.outputs as { name: string }[]).map((o) => o.name)]);
  return names(a) === names(b);
}

function hashedName(name: string, variant: string, sha256: string, suffix: string): string {
  return `${name}.${variant}.${sha256.slice(0, 8)}${suffix}`;
}

async function onnxRelease(modelPath: string, variant: string | undefined, name: string, split: boolean): Promise<Release> {
  const variants = await readVariants(modelPath, variant);
  const signatures = [...variants].map(([variant, file]) => [variant, modelSignature(decodeModel(file.bytes, variant))] as const);
  const [firstVariant, signature] = signatures.find(([v]) => v === 'fp32') ?? signatures[0]!;
  for (const [variant, other] of signatures) {
    if (JSON.stringify(other.inputs.map((i) => i.name)) !== JSON.stringify(signature.inputs.map((i) => i.name)) || JSON.stringify(other.outputs.map((o) => o.name)) !== JSON.stringify(signature.outputs.map((o) => o.name))) {
      throw new CliError(`variant ${variant} has other inputs or outputs than ${firstVariant}; every variant must be the same model`);
    }
  }
  const published = new Map<string, { suffix: string; bytes: Uint8Array }[]>();
  for (const [v, file] of variants) published.set(v, await onnxFiles(file, name, v, split));
  return { runtime: 'onnx', variants: published, signature };
}

/**
 * TF.js: each shard gets a content-hashed name, model.json is rewritten to name them and then hashed
 * itself, and the variant lists model.json first. Every variant must be of one format and signature.
 */
async function tfjsRelease(variants: Map<string, TfjsVariant>, name: string): Promise<Release> {
  const formats = new Set([...variants.values()].map((v) => v.format));
  if (formats.size > 1) throw new CliError('every variant must be the same kind of TF.js model (all layers models or all graph models)');
  const signatures = new Map<string, { inputs: unknown[]; outputs: unknown[] }>();
  for (const [variant, model] of variants) signatures.set(variant, await tfjsSignature(model, variant));
  const first = variants.has('fp32') ? 'fp32' : [...variants.keys()][0]!;
  const signature = signatures.get(first)!;
  for (const [variant, other] of signatures) {
    if (JSON.stringify(other) !== JSON.stringify(signature)) throw new CliError(`variant ${variant} has other inputs or outputs than ${first}; every variant must be the same model`);
  }
  const published = new Map<string, { suffix: string; bytes: Uint8Array }[]>();
  for (const [variant, model] of variants) {
    const shards = model.shards.map((s) => ({ suffix: '.bin', bytes: s.bytes, path: hashedName(name, variant, createHash('sha256').update(s.bytes).digest('hex'), '.bin') }));
    const renamed = new Map(model.shards.map((s, i) => [s.path, shards[i]!.path]));
    const groups = model.json['weightsManifest'] as { paths: string[] }[];
    const json = { ...model.json, weightsManifest: groups.map((g) => ({ ...g, paths: g.paths.map((p) => renamed.get(p)!) })) };
    published.set(variant, [{ suffix: '.json', bytes: new TextEncoder().encode(JSON.stringify(json)) }, ...shards]);
  }
  return { runtime: formats.has('layers-model') ? 'tfjs-layers' : 'tfjs-graph', variants: published, signature };
}

/** The content-hashed files of every version that no wildcard covers (model.json, assets): they need their own header lines. */
async function hashedOtherFiles(releaseDir: string): Promise<string[]> {
  return (await readdir(releaseDir)).filter((f) => /\.[0-9a-f]{8}(\.[A-Za-z0-9_-]+)?$/.test(f) && !/\.(onnx|data|bin)$/.test(f)).sort();
}

/** Caching headers: hashed files forever, the manifest revalidated on every use. */
async function writeHeaders(releaseDir: string, hashedJson: readonly string[]): Promise<void> {
  const immutable = '  Cache-Control: public, max-age=31536000, immutable\n  Access-Control-Allow-Origin: *\n';
  await writeAtomically(
    join(releaseDir, '_headers'),
    `# Netlify / Cloudflare Pages. Hashed model files never change; the manifest must be revalidated.
/*.onnx
${immutable}/*.data
${immutable}/*.bin
${immutable}${hashedJson.map((f) => `/${f}\n${immutable}`).join('')}/manifest.json
  Cache-Control: no-cache
  Access-Control-Allow-Origin: *
`,
  );
  await writeAtomically(
    join(releaseDir, 'nginx.conf'),
    `# Include in the server block that serves this release folder.
location ~ \\.([0-9a-f]{8}(\\.[A-Za-z0-9_-]+)?|onnx|data|bin)$ {
    add_header Cache-Control "public, max-age=31536000, immutable";
    add_header Access-Control-Allow-Origin "*";
}
location ~ /manifest\\.json$ {
    add_header Cache-Control "no-cache";
    add_header Access-Control-Allow-Origin "*";
    etag on;
}
`,
  );
}

export async function revoke(releaseDir: string, version: string, signer?: SigningKey, freshness: Freshness = {}): Promise<ManifestJson> {
  const { manifest, path, dir } = await readManifestFile(releaseDir);
  const known = version === manifest.version || (await access(join(dir, `manifest.${version}.json`)).then(() => true, () => false));
  if (!known) throw new CliError(`version ${version} was never published in ${releaseDir}; nothing to revoke`);
  if (compareVersionStrings(version, manifest.version) > 0) throw new CliError(`version ${version} is above the published ${manifest.version}; a manifest only revokes its own version or earlier ones`);
  const next = await finish({ ...manifest, revoked: [...new Set([...(manifest.revoked ?? []), version])] }, signer, path, freshness);
  await writeAtomically(path, `${JSON.stringify(next, null, 2)}\n`);
  return next;
}

/**
 * @file The publisher's CLI on TF.js models: publish (content-hashed shards, model.json rewritten to name
 * them and listed first), verify on TF.js's CPU backend, and bad folders, each a clear error that
 * writes nothing.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../src/cli/main.js';

const MODELS = fileURLToPath(new URL('../../models/digits-tfjs/', import.meta.url));
const TEST_SET = `${MODELS}test-set.json`;

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

type Manifest = { runtime: string; inputs: unknown; outputs: unknown; variants: { fp32: { files: Array<{ path: string; size: number; sha256: string }> } } };
const manifestOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;

let work: string;

/** A publisher's folder made from a committed release: its model.json as model.json, its shards as they are named. */
function sourceFrom(release: string, into: string): string {
  const dir = join(work, into);
  mkdirSync(dir, { recursive: true });
  const [json, ...shards] = manifestOf(join(MODELS, release)).variants.fp32.files;
  copyFileSync(join(MODELS, release, json!.path), join(dir, 'model.json'));
  for (const s of shards) copyFileSync(join(MODELS, release, s.path), join(dir, s.path));
  return dir;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ondevice-cli-tfjs-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('publish and verify a TF.js model', () => {
  test.each([
    ['layers', 'digits-layers', 'tfjs-layers'],
    ['graph', 'digits-graph', 'tfjs-graph'],
  ])('the %s model: the same release, byte for byte, as the committed one', async (release, name, runtime) => {
    const out = join(work, `out-${release}`);
    const published = await cli('publish', sourceFrom(release, `src-${release}`), out, '--version', '1.0.0', '--name', name);
    expect(published.code, published.err).toBe(0);
    const manifest = manifestOf(out);
    const committed = manifestOf(join(MODELS, release));
    expect(manifest.runtime).toBe(runtime);
    expect(manifest.variants).toEqual(committed.variants);
    expect(manifest.inputs).toEqual(committed.inputs);
    expect(manifest.outputs).toEqual(committed.outputs);
    // model.json first, naming the hashed shards that follow it.
    const [json, ...shards] = manifest.variants.fp32.files;
    expect(json!.path).toMatch(new RegExp(`^${name}\\.fp32\\.[0-9a-f]{8}\\.json$`));
    const model = JSON.parse(readFileSync(join(out, json!.path), 'utf8')) as { weightsManifest: Array<{ paths: string[] }> };
    expect(model.weightsManifest.flatMap((g) => g.paths)).toEqual(shards.map((s) => s.path));
    expect(readFileSync(join(out, '_headers'), 'utf8')).toContain(`/${json!.path}\n  Cache-Control: public, max-age=31536000, immutable`);
  });

  test('verify runs the layers release on TF.js and reports its accuracy', async () => {
    const result = await cli('verify', join(MODELS, 'layers'), '--data', TEST_SET);
    expect(result.code, result.err).toBe(0);
    expect(result.out).toMatch(/fp32 +20912 +100\.00% +0\.00e\+0 +100\.00% +96\.11%/);
  });
});

describe('bad TF.js folders: a clear error, nothing written', () => {
  function expectNothingWritten(release: string): void {
    expect(existsSync(release) ? readdirSync(release) : []).toEqual([]);
  }

  test('a missing shard', async () => {
    const dir = sourceFrom('layers', 'missing-shard');
    const shard = readdirSync(dir).find((f) => f.endsWith('.bin'))!;
    rmSync(join(dir, shard));
    const result = await cli('publish', dir, join(work, 'never-1'), '--version', '1.0.0');
    expect(result.code).toBe(1);
    expect(result.err).toMatch(new RegExp(`names the weight shard ${shard.replace(/\./g, '\\.')}, which is not in`));
    expectNothingWritten(join(work, 'never-1'));
  });

  test('a truncated shard', async () => {
    const dir = sourceFrom('layers', 'short-shard');
    const shard = readdirSync(dir).find((f) => f.endsWith('.bin'))!;
    writeFileSync(join(dir, shard), readFileSync(join(dir, shard)).subarray(0, 100));
    const result = await cli('publish', dir, join(work, 'never-2'), '--version', '1.0.0');
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/weight shards hold 9176 bytes but its weightsManifest describes 18152/);
    expectNothingWritten(join(work, 'never-2'));
  });

  test('a model.json that is not JSON, and one TF.js cannot build', async () => {
    const broken = sourceFrom('layers', 'not-json');
    writeFileSync(join(broken, 'model.json'), '{ "modelTopology": ');
    expect((await cli('publish', broken, join(work, 'never-3'), '--version', '1.0.0')).err).toMatch(/model\.json is not a usable TF\.js model: it is not JSON/);
    const unknown = sourceFrom('layers', 'unknown-layer');
    const json = JSON.parse(readFileSync(join(unknown, 'model.json'), 'utf8')) as { modelTopology: { config: { layers: Array<{ class_name: string }> } } };
    json.modelTopology.config.layers[1]!.class_name = 'NoSuchLayer';
    writeFileSync(join(unknown, 'model.json'), JSON.stringify(json));
    const result = await cli('publish', unknown, join(work, 'never-4'), '--version', '1.0.0');
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/TF\.js cannot load the fp32 variant: .*NoSuchLayer/);
    expectNothingWritten(join(work, 'never-3'));
    expectNothingWritten(join(work, 'never-4'));
  });
});

describe('TF.js models as users have them: any file name, quantized weights (issue 12)', () => {
  /** The committed layers release's model.json, under the awkward name it has there, with its shards. */
  const released = () => {
    const [json] = manifestOf(join(MODELS, 'layers')).variants.fp32.files;
    return join(MODELS, 'layers', json!.path);
  };

  test.each([
    ['fp16', 'float16', 0.5],
    ['uint8', 'uint8', 0.25],
    ['uint16', 'uint16', 0.5],
  ] as const)('quantize --to %s writes TF.js quantization (%s), about %s of the weight bytes, and verify passes', async (to, dtype, ratio) => {
    const rel = join(work, `q-${to}`);
    mkdirSync(join(rel, 'fp32'), { recursive: true });
    const fp32 = sourceFrom('layers', `q-${to}-src`);
    for (const f of readdirSync(fp32)) copyFileSync(join(fp32, f), join(rel, 'fp32', f));
    const result = await cli('quantize', released(), '--to', to, '-o', join(rel, to, 'model.json'));
    expect(result.code, result.err).toBe(0);
    const model = JSON.parse(readFileSync(join(rel, to, 'model.json'), 'utf8')) as { weightsManifest: Array<{ paths: string[]; weights: Array<{ dtype: string; quantization?: { dtype: string } }> }> };
    expect(model.weightsManifest).toHaveLength(1);
    expect(model.weightsManifest[0]!.paths).toEqual(['model.bin']);
    expect(new Set(model.weightsManifest[0]!.weights.map((w) => w.quantization?.dtype))).toEqual(new Set([dtype]));
    const bytes = readFileSync(join(rel, to, 'model.bin')).length;
    expect(bytes / 18152).toBeCloseTo(ratio, 2);

    const out = join(work, `q-${to}-release`);
    const published = await cli('publish', rel, out, '--version', '1.0.0', '--name', 'digits-layers');
    expect(published.code, published.err).toBe(0);
    expect(Object.keys(manifestOf(out).variants).sort()).toEqual(['fp32', to].sort());
    const verified = await cli('verify', out, '--data', TEST_SET);
    expect(verified.code, verified.out + verified.err).toBe(0);
    expect(verified.out).toMatch(new RegExp(`^${to} +\\d+ +\\d+\\.\\d+% +\\S+ +(99|100)\\.\\d+% +9\\d\\.\\d+%$`, 'm'));
  });

  test('publish takes a model.json of any name; a quantized one is published as the variant its weights are', async () => {
    const plain = join(work, 'any-name');
    const published = await cli('publish', released(), plain, '--version', '1.0.0', '--name', 'digits-layers');
    expect(published.code, published.err).toBe(0);
    expect(Object.keys(manifestOf(plain).variants)).toEqual(['fp32']);

    const lite = join(work, 'pose-lite');
    expect((await cli('quantize', released(), '--to', 'uint8', '-o', join(lite, 'pose-lite.json'))).code).toBe(0);
    const fromFile = join(work, 'pose-lite-release');
    const result = await cli('publish', join(lite, 'pose-lite.json'), fromFile, '--version', '1.0.0');
    expect(result.code, result.err).toBe(0);
    expect(manifestOf(fromFile)).toMatchObject({ name: 'pose-lite', runtime: 'tfjs-layers' });
    expect(Object.keys(manifestOf(fromFile).variants)).toEqual(['uint8']);
    // The folder that holds it works too, and says nothing about .onnx files.
    const fromFolder = await cli('publish', lite, join(work, 'pose-lite-folder'), '--version', '1.0.0');
    expect(fromFolder.code, fromFolder.err).toBe(0);
    expect(Object.keys(manifestOf(join(work, 'pose-lite-folder')).variants)).toEqual(['uint8']);
  });

  test('hardening II: a model whose float weights are all quantized is published as that variant, whatever its int32 weights (never quantized) are', async () => {
    // As MoveNet ships: float16 floats beside int32 weights (shapes, indices).
    const dir = join(work, 'movenet-like');
    const graph = join(MODELS, 'graph', manifestOf(join(MODELS, 'graph')).variants.fp32.files[0]!.path);
    expect((await cli('quantize', graph, '--to', 'fp16', '-o', join(dir, 'movenet.json'))).code).toBe(0);
    const json = JSON.parse(readFileSync(join(dir, 'movenet.json'), 'utf8'));
    const group = json.weightsManifest.at(-1);
    group.weights.push({ name: 'unused/shape', shape: [2], dtype: 'int32' });
    const shard = join(dir, group.paths.at(-1));
    writeFileSync(shard, Buffer.concat([readFileSync(shard), Buffer.from(new Int32Array([1, 64]).buffer)]));
    writeFileSync(join(dir, 'movenet.json'), JSON.stringify(json));
    const out = join(work, 'movenet-like-release');
    const result = await cli('publish', join(dir, 'movenet.json'), out, '--version', '1.0.0');
    expect(result.code, result.err).toBe(0);
    expect(Object.keys(manifestOf(out).variants)).toEqual(['fp16']);
  });
});

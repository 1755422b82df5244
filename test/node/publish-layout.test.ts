/**
 * @file `ondevice publish` of the layouts exporters write (issue 24): the transformers.js / Optimum
 * folder and a flat folder of graphs beside other files, with no flags. Fixtures: the encoder–decoder
 * example (models/seq2seq) copied and dressed as real repos are (sibling variants, README, dotfiles).
 */
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { graphOf } from '../../src/cli/publish-layout.js';
import { parseManifest } from '../../src/manifest/parse.js';
import { cli } from '../support/cli.js';
import { SEQ2SEQ } from '../support/seq2seq.mjs';

let work = '';
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ondevice-layout-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Published {
  graphs: Record<string, { inputs: { name: string }[]; outputs: { name: string }[] }>;
  variants: Record<string, { files: { path: string; graph: string; size: number }[] }>;
  assets: { name: string; path: string; size: number; sha256: string }[];
  inputs: { name: string }[];
}

function read(release: string): Published {
  const json = JSON.parse(readFileSync(join(release, 'manifest.json'), 'utf8')) as Published;
  // What the loader reads: the CLI's manifest is valid to it.
  parseManifest(json, pathToFileURL(join(release, 'manifest.json')).href);
  return json;
}

/** The example's v1 as a Hugging Face repo holds it: int8 siblings for every graph, fp16 for one, a README, a dotfile. */
function hubRepo(name: string): string {
  const dir = join(work, name);
  cpSync(join(SEQ2SEQ, 'v1'), dir, { recursive: true });
  const onnx = join(dir, 'onnx');
  for (const g of ['encoder_model', 'decoder_with_past_model']) copyFileSync(join(onnx, `${g}.onnx`), join(onnx, `${g}_quantized.onnx`));
  // A graph with external data keeps naming its own data file: the sibling is a copy of both under the new name.
  copyFileSync(join(onnx, 'decoder_model.onnx'), join(onnx, 'decoder_model_quantized.onnx'));
  copyFileSync(join(onnx, 'encoder_model.onnx'), join(onnx, 'encoder_model_fp16.onnx'));
  writeFileSync(join(dir, 'README.md'), '# reverse\n');
  writeFileSync(join(dir, '.gitattributes'), '*.onnx filter=lfs\n');
  return dir;
}

test('file names: graph and variant from the stem, as transformers.js names them', () => {
  expect(graphOf('decoder_model_merged_quantized.onnx')).toEqual({ graph: 'decoder_model_merged', variant: 'int8' });
  expect(graphOf('model_q4f16.onnx')).toEqual({ graph: 'model', variant: 'q4f16' });
  expect(graphOf('model_q4.onnx')).toEqual({ graph: 'model', variant: 'q4' });
  expect(graphOf('encoder_model_fp16.onnx')).toEqual({ graph: 'encoder_model', variant: 'fp16' });
  expect(graphOf('vision_encoder_uint8.onnx')).toEqual({ graph: 'vision_encoder', variant: 'uint8' });
  expect(graphOf('model_bnb4.onnx')).toEqual({ graph: 'model', variant: 'bnb4' });
  expect(graphOf('ch_PP-OCRv4_det_infer.onnx')).toEqual({ graph: 'ch_PP-OCRv4_det_infer', variant: 'fp32' });
  expect(graphOf('_quantized.onnx')).toEqual({ graph: '_quantized', variant: 'fp32' });
});

test('the transformers.js layout: every graph of each complete variant, with its external data; every other file an asset; what is left out is said', async () => {
  const repo = hubRepo('hub');
  const release = join(work, 'hub-release');
  const result = await cli('publish', repo, release, '--version', '1.0.0', '--name', 'reverse');
  expect(result.code, result.err).toBe(0);
  const manifest = read(release);
  expect(Object.keys(manifest.graphs)).toEqual(['encoder_model', 'decoder_model', 'decoder_with_past_model']);
  expect(manifest.inputs).toEqual(manifest.graphs['encoder_model']!.inputs);
  expect(manifest.graphs['decoder_with_past_model']!.outputs.map((o) => o.name)).toEqual(['logits', 'present.0.key', 'present.0.value']);
  expect(Object.keys(manifest.variants)).toEqual(['fp32', 'int8']);
  for (const variant of ['fp32', 'int8']) {
    const files = manifest.variants[variant]!.files;
    expect(files.map((f) => f.graph)).toEqual(['encoder_model', 'decoder_model', 'decoder_model', 'decoder_with_past_model']);
    // The graph's model, then its external data (renamed by content, the model rewritten to name it).
    expect(files[1]!.path).toMatch(new RegExp(`^decoder_model\\.${variant}\\.[0-9a-f]{8}\\.onnx$`));
    expect(files[2]!.path).toMatch(/^decoder_model\.[a-z0-9]+\.[0-9a-f]{8}\.data$/);
    expect(files[2]!.size).toBe(readFileSync(join(repo, 'onnx', 'decoder_model.onnx_data')).length);
  }
  expect(manifest.assets.map((a) => a.name)).toEqual(['config.json', 'generation_config.json', 'tokenizer.json']);
  for (const asset of manifest.assets) {
    expect(asset.path).toMatch(new RegExp(`^${asset.name.replace('.json', '')}\\.[0-9a-f]{8}\\.json$`));
    expect(readFileSync(join(release, asset.path))).toEqual(readFileSync(join(repo, asset.name)));
  }
  expect(result.out).toMatch(/graphs encoder_model, decoder_model, decoder_with_past_model; assets config\.json, generation_config\.json, tokenizer\.json/);
  expect(result.err).toMatch(/left out: variant fp16 \(encoder_model_fp16\.onnx\): it lacks graphs decoder_model, decoder_with_past_model/);
  expect(result.err).toMatch(/left out: .*README\.md/);
  expect(result.err).toMatch(/left out: .*\.gitattributes/);
  expect(readdirSync(release).some((f) => /README|gitattributes/.test(f))).toBe(false);
  // Assets are immutable, content-hashed files: the caching headers say so.
  const headers = readFileSync(join(release, '_headers'), 'utf8');
  for (const asset of manifest.assets) expect(headers).toContain(`/${asset.path}\n  Cache-Control: public, max-age=31536000, immutable`);
});

test('a flat folder of graphs beside other files: each .onnx a graph, the rest assets; one model alone stays as it was', async () => {
  const flat = join(work, 'flat');
  mkdirSync(flat);
  for (const g of ['encoder_model', 'decoder_with_past_model']) copyFileSync(join(SEQ2SEQ, 'v1', 'onnx', `${g}.onnx`), join(flat, `${g}.onnx`));
  copyFileSync(join(SEQ2SEQ, 'v1', 'tokenizer.json'), join(flat, 'tokenizer.json'));
  writeFileSync(join(flat, 'labels.txt'), 'a\nb\n');
  const release = join(work, 'flat-release');
  const result = await cli('publish', flat, release, '--version', '1.0.0');
  expect(result.code, result.err).toBe(0);
  const manifest = read(release);
  expect(Object.keys(manifest.graphs)).toEqual(['encoder_model', 'decoder_with_past_model']);
  expect(manifest.assets.map((a) => a.name)).toEqual(['labels.txt', 'tokenizer.json']);
  expect(manifest.assets[0]!.path).toMatch(/^labels\.[0-9a-f]{8}\.txt$/);

  // One graph with a tokenizer beside it: a single-graph release named "model", with its asset.
  const single = join(work, 'single');
  mkdirSync(single);
  copyFileSync(join(SEQ2SEQ, 'v1', 'onnx', 'encoder_model.onnx'), join(single, 'model.onnx'));
  copyFileSync(join(SEQ2SEQ, 'v1', 'tokenizer.json'), join(single, 'tokenizer.json'));
  expect((await cli('publish', single, join(work, 'single-release'), '--version', '1.0.0')).code).toBe(0);
  const one = read(join(work, 'single-release'));
  expect(Object.keys(one.graphs)).toEqual(['model']);
  expect(one.assets.map((a) => a.name)).toEqual(['tokenizer.json']);

  // Only variant-named files: variants of one graph, no graphs field, as before.
  const variants = join(work, 'variants');
  mkdirSync(variants);
  for (const v of ['fp32', 'int8']) copyFileSync(join(SEQ2SEQ, 'v1', 'onnx', 'encoder_model.onnx'), join(variants, `${v}.onnx`));
  expect((await cli('publish', variants, join(work, 'variants-release'), '--version', '1.0.0')).code).toBe(0);
  const plain = read(join(work, 'variants-release'));
  expect(plain.graphs).toBeUndefined();
  expect(plain.assets).toBeUndefined();
  expect(Object.keys(plain.variants)).toEqual(['fp32', 'int8']);
});

test('refusals, with nothing written: two files for one graph of one variant; --variant with a layout', async () => {
  const repo = hubRepo('clash');
  copyFileSync(join(repo, 'onnx', 'encoder_model.onnx'), join(repo, 'onnx', 'encoder_model_int8.onnx'));
  const release = join(work, 'clash-release');
  const clash = await cli('publish', repo, release, '--version', '1.0.0');
  expect(clash.code).toBe(1);
  expect(clash.err).toMatch(/encoder_model_quantized\.onnx and encoder_model_int8\.onnx are both graph "encoder_model" of variant int8|encoder_model_int8\.onnx and encoder_model_quantized\.onnx are both graph "encoder_model" of variant int8/);
  expect(existsSync(release)).toBe(false);
  const flagged = await cli('publish', hubRepo('flagged'), release, '--version', '1.0.0', '--variant', 'int8');
  expect(flagged.code).toBe(2);
  expect(flagged.err).toMatch(/--variant names the variant of one model file/);
  expect(existsSync(release)).toBe(false);
});

test('quantize and verify take the folder and the release: every graph, external data read in', async () => {
  const repo = join(work, 'quantize-me');
  cpSync(join(SEQ2SEQ, 'v1'), repo, { recursive: true });
  const quantized = await cli('quantize', repo, '--to', 'int8');
  expect(quantized.code, quantized.err).toBe(0);
  const made = readdirSync(join(repo, 'onnx')).filter((f) => f.endsWith('_quantized.onnx')).sort();
  expect(made).toEqual(['decoder_model_quantized.onnx', 'decoder_with_past_model_quantized.onnx', 'encoder_model_quantized.onnx']);
  // The graph whose weights were external data is quantized too (its data read in, the result self-contained).
  expect(quantized.out).toMatch(/decoder_model_quantized\.onnx: int8, [1-9]\d* weights converted/);
  const release = join(work, 'quantize-me-release');
  expect((await cli('publish', repo, release, '--version', '1.0.0', '--name', 'reverse')).code).toBe(0);
  const manifest = read(release);
  expect(Object.keys(manifest.variants)).toEqual(['fp32', 'int8']);
  const size = (v: string) => manifest.variants[v]!.files.reduce((n, f) => n + f.size, 0);
  expect(size('int8') / size('fp32')).toBeLessThan(0.4);

  const verified = await cli('verify', release);
  expect(verified.code, verified.err).toBe(0);
  const rows = verified.out.split('\n').filter((l) => /^(encoder_model|decoder_model|decoder_with_past_model) +(fp32|int8) /.test(l));
  expect(rows).toHaveLength(6);
  for (const row of rows) {
    const diff = Number(row.trim().split(/ +/).at(-1));
    // fp32 against itself is exact; int8's weights drift a little, never to nothing or to NaN.
    if (/ fp32 /.test(row)) expect(diff).toBe(0);
    else expect(diff).toBeGreaterThan(0), expect(diff).toBeLessThan(1);
  }
  // A release of one graph still needs its test set.
  expect((await cli('verify', join(work, 'variants-release'))).err).toMatch(/--data <test-set\.json> is required/);
});

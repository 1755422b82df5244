/**
 * @file The publisher's CLI end to end on the digits model, with onnxruntime-node: quantize, publish,
 * verify; and the bad inputs, each a clear error that writes nothing.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fromFloat16Bits, toFloat16Bits } from '../../src/tensor/float16.js';
import { cli } from '../support/cli.js';
import { readTestSet, verifyRelease, type VerifyReport } from '../../src/cli/verify.js';
import { digitsModelPath } from '../support/digits.mjs';

const TEST_SET = new URL('../../models/digits/test-set.json', import.meta.url).pathname;


let work: string;
let modelDir: string;
let releaseDir: string;
let report: VerifyReport;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ondevice-cli-'));
  modelDir = join(work, 'digits');
  releaseDir = join(work, 'release');
  await cli('help');
  copyFileSync(digitsModelPath(), join(work, 'fp32.onnx'));
  expect((await cli('quantize', join(work, 'fp32.onnx'), '--to', 'int8', '-o', join(modelDir, 'int8.onnx'))).code).toBe(0);
  expect((await cli('quantize', join(work, 'fp32.onnx'), '--to', 'fp16', '-o', join(modelDir, 'fp16.onnx'))).code).toBe(0);
  copyFileSync(join(work, 'fp32.onnx'), join(modelDir, 'fp32.onnx'));
  writeFileSync(join(modelDir, 'metadata.json'), JSON.stringify({ labels: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] }));
  const published = await cli('publish', modelDir, releaseDir, '--version', '1.0.0');
  expect(published.code, published.err).toBe(0);
  report = await verifyRelease(releaseDir, await readTestSet(TEST_SET), { minAgreement: 0.99, maxAccuracyDrop: 0.5 });
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('quantize, publish, verify on the digits model', () => {
  const row = (variant: string) => report.rows.find((r) => r.variant === variant)!;

  test('int8 is at most 30% of fp32, agrees on top-1 for at least 99%, and loses at most 0.5 accuracy points', () => {
    expect(row('int8').sizeRatio).toBeLessThanOrEqual(0.3);
    expect(row('int8').agreement).toBeGreaterThanOrEqual(0.99);
    expect((row('fp32').accuracy! - row('int8').accuracy!) * 100).toBeLessThanOrEqual(0.5);
    expect(row('fp32').accuracy).toBeGreaterThanOrEqual(0.95);
  });

  test('fp16 is about half of fp32 and nearly exact', () => {
    expect(row('fp16').sizeRatio).toBeLessThan(0.55);
    // Half floats keep ~3 significant digits; the logits are of magnitude ~10.
    expect(row('fp16').maxAbsDiff).toBeLessThan(5e-2);
    expect(row('fp16').agreement).toBe(1);
  });

  test('the manifest names hashed files, the signature and metadata', () => {
    const manifest = JSON.parse(readFileSync(join(releaseDir, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({
      format: 'ondevice/1',
      name: 'digits',
      version: '1.0.0',
      runtime: 'onnx',
      inputs: [{ name: 'image', type: 'float32', dims: ['batch', 1, 8, 8] }],
      outputs: [{ name: 'logits', type: 'float32', dims: ['batch', 10] }],
      metadata: { labels: expect.any(Array) },
      revoked: [],
    });
    expect(Object.keys(manifest.variants).sort()).toEqual(['fp16', 'fp32', 'int8']);
    // quantize's variants compute in float32: they require nothing of the device.
    for (const variant of Object.values<{ requires?: unknown }>(manifest.variants)) expect(variant.requires).toBeUndefined();
    for (const [variant, { files }] of Object.entries<{ files: Array<{ path: string; size: number }> }>(manifest.variants)) {
      expect(files[0]!.path).toMatch(new RegExp(`^digits\\.${variant}\\.[0-9a-f]{8}\\.onnx$`));
      expect(readFileSync(join(releaseDir, files[0]!.path)).length).toBe(files[0]!.size);
    }
    expect(readFileSync(join(releaseDir, '_headers'), 'utf8')).toMatch(/\/\*\.onnx\n\s+Cache-Control: public, max-age=31536000, immutable[\s\S]*\/manifest\.json\n\s+Cache-Control: no-cache/);
    expect(readFileSync(join(releaseDir, 'nginx.conf'), 'utf8')).toMatch(/immutable/);
  });

  test('verify prints the table and exits 0; a stricter threshold makes it exit 1', async () => {
    const ok = await cli('verify', releaseDir, '--data', TEST_SET);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^int8 +\d+ +\d+\.\d+%/m);
    expect(ok.out).toMatch(/ok: every variant is within the thresholds/);
    const strict = await cli('verify', releaseDir, '--data', TEST_SET, '--min-agreement', '1.0', '--max-accuracy-drop=-1');
    expect(strict.code).toBe(1);
    expect(strict.out).toMatch(/FAIL int8/);
  });

  test("verify: a test set that does not fit the model's inputs is a clear error naming both, not a stack", async () => {
    const data = join(work, 'bad-sets');
    mkdirSync(data, { recursive: true });
    copyFileSync(TEST_SET.replace(/\.json$/, '.bin'), join(data, 'test-set.bin'));
    const write = (name: string, set: object) => {
      writeFileSync(join(data, name), JSON.stringify({ file: 'test-set.bin', ...set }));
      return join(data, name);
    };
    const wrongName = await cli('verify', releaseDir, '--data', write('name.json', { input: 'pixels', dims: [360, 1, 8, 8] }));
    expect(wrongName.code).toBe(1);
    expect(wrongName.err).toMatch(/the test set's input "pixels" is not an input of the model: it has image \(float32 \[batch, 1, 8, 8\]\)/);
    expect(wrongName.err).not.toMatch(/\n\s+at /);
    const wrongShape = await cli('verify', releaseDir, '--data', write('shape.json', { input: 'image', dims: [360, 64] }));
    expect(wrongShape.code).toBe(1);
    expect(wrongShape.err).toMatch(/the test set's "image" has dims \[360, 64\], but the model's "image" is float32 \[batch, 1, 8, 8\]/);
    const wrongFixed = await cli('verify', releaseDir, '--data', write('fixed.json', { input: 'image', dims: [360, 1, 4, 16] }));
    expect(wrongFixed.err).toMatch(/dims \[360, 1, 4, 16\], but the model's "image" is float32 \[batch, 1, 8, 8\]/);
  });

  test('a new version keeps the files of the earlier one; the same version twice is refused and changes nothing', async () => {
    const before = readdirSync(releaseDir).sort();
    const manifestBefore = readFileSync(join(releaseDir, 'manifest.json'), 'utf8');
    const again = await cli('publish', modelDir, releaseDir, '--version', '1.0.0');
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/version 1\.0\.0 is already published/);
    const older = await cli('publish', modelDir, releaseDir, '--version', '0.9.0');
    expect(older.err).toMatch(/older than the published 1\.0\.0/);
    expect(readdirSync(releaseDir).sort()).toEqual(before);
    expect(readFileSync(join(releaseDir, 'manifest.json'), 'utf8')).toBe(manifestBefore);

    expect((await cli('publish', modelDir, releaseDir, '--version', '1.1.0')).code).toBe(0);
    expect(readdirSync(releaseDir)).toEqual(expect.arrayContaining([...before, 'manifest.1.1.0.json']));
    const revoked = await cli('revoke', releaseDir, '1.0.0');
    expect(revoked.code).toBe(0);
    expect(JSON.parse(readFileSync(join(releaseDir, 'manifest.json'), 'utf8'))).toMatchObject({ version: '1.1.0', revoked: ['1.0.0'] });
    expect((await cli('revoke', releaseDir, '3.0.0')).err).toMatch(/3\.0\.0 was never published/);
  });
});

describe('bad input: a clear error and nothing half-written', () => {
  test('a file that is not ONNX, and a truncated ONNX file', async () => {
    const out = join(work, 'never.onnx');
    const notOnnx = await cli('quantize', TEST_SET, '--to', 'int8', '-o', out);
    expect(notOnnx.code).toBe(1);
    expect(notOnnx.err).toMatch(/is not an ONNX model/);
    const truncated = join(work, 'truncated.onnx');
    writeFileSync(truncated, readFileSync(digitsModelPath()).subarray(0, 50_000));
    const cut = await cli('quantize', truncated, '--to', 'fp16', '-o', out);
    expect(cut.code).toBe(1);
    expect(cut.err).toMatch(/is not an ONNX model .*truncated/);
    expect(readdirSync(work)).not.toContain('never.onnx');
    expect((await cli('quantize', join(work, 'missing.onnx'), '--to', 'int8', '-o', out)).err).toMatch(/no such file/);
  });

  test('a release folder that cannot be written', async () => {
    const blocker = join(work, 'a-file');
    writeFileSync(blocker, 'not a folder');
    const result = await cli('publish', modelDir, join(blocker, 'release'), '--version', '1.0.0');
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/is not writable .*nothing was written/);
  });

  test('usage errors exit 2 and point at --help; every command has --help', async () => {
    expect((await cli('frobnicate')).code).toBe(2);
    expect((await cli('quantize', 'x.onnx', '--to', 'int4', '-o', 'y.onnx')).err).toMatch(/--to must be int8, fp16, q4 or q4f16/);
    expect((await cli('publish', modelDir, releaseDir, '--version', 'v-one')).code).toBe(2);
    expect((await cli('verify', releaseDir, '--bogus')).err).toMatch(/run ondevice verify --help/);
    for (const command of ['quantize', 'verify', 'publish', 'revoke']) {
      const help = await cli(command, '--help');
      expect(help.code).toBe(0);
      expect(help.out).toMatch(new RegExp(`^usage: ondevice ${command}`));
    }
  });
});

describe('float16', () => {
  test.each([
    [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65520, 0x7c00], [2 ** -24, 0x0001], [2 ** -14, 0x0400],
    [1 / 3, 0x3555], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [0, 0], [-0, 0x8000], [Infinity, 0x7c00],
  ])('%d → %i', (value, bits) => {
    expect(toFloat16Bits(value)).toBe(bits);
  });

  test('every half-float pattern survives a round trip', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = fromFloat16Bits(bits);
      if (Number.isNaN(value)) expect(Number.isNaN(fromFloat16Bits(toFloat16Bits(value)))).toBe(true);
      else expect(toFloat16Bits(value)).toBe(bits);
    }
  });
});

describe('models as exporters write them (models/exporters/)', () => {
  const EXPORTERS = new URL('../../models/exporters/', import.meta.url).pathname;

  test('a dimension with neither a size nor a name is published as a free, named dimension, not 0', async () => {
    const dir = join(work, 'free-dims');
    const release = join(work, 'free-dims-release');
    copyFileSync(join(EXPORTERS, 'classifier-2024-05.onnx'), join(mkdirpSync(dir), 'fp32.onnx'));
    const published = await cli('publish', dir, release, '--version', '1.0.0');
    expect(published.code, published.err).toBe(0);
    const manifest = JSON.parse(readFileSync(join(release, 'manifest.json'), 'utf8'));
    expect(manifest.inputs).toEqual([{ name: 'features', type: 'float32', dims: ['d0', 64] }]);
    expect(manifest.outputs).toEqual([{ name: 'logits', type: 'float32', dims: ['d0', 10] }]);
  });

  test('publish takes one model file of any name: one variant, fp32 unless --variant says otherwise', async () => {
    const release = join(work, 'one-file');
    const published = await cli('publish', join(EXPORTERS, 'classifier-2024-05.onnx'), release, '--version', '1.0.0');
    expect(published.code, published.err).toBe(0);
    const manifest = JSON.parse(readFileSync(join(release, 'manifest.json'), 'utf8'));
    expect(manifest.name).toBe('classifier-2024-05');
    expect(Object.keys(manifest.variants)).toEqual(['fp32']);
    expect(manifest.variants.fp32.files[0].path).toMatch(/^classifier-2024-05\.fp32\.[0-9a-f]{8}\.onnx$/);
    const int8 = await cli('publish', join(EXPORTERS, 'classifier-2024-05.onnx'), join(work, 'one-file-int8'), '--version', '1.0.0', '--variant', 'int8', '--name', 'classifier');
    expect(int8.code, int8.err).toBe(0);
    expect(Object.keys(JSON.parse(readFileSync(join(work, 'one-file-int8', 'manifest.json'), 'utf8')).variants)).toEqual(['int8']);
  });

  test('a folder of several differently named models is one release with a graph per file, named by its stem (issue 24)', async () => {
    const dir = mkdirpSync(join(work, 'several'));
    copyFileSync(join(EXPORTERS, 'classifier-2024-05.onnx'), join(dir, 'classifier-2024-05.onnx'));
    copyFileSync(join(EXPORTERS, 'classifier-2024-05.onnx'), join(dir, 'encoder_v5.onnx'));
    const release = join(work, 'several-release');
    const result = await cli('publish', dir, release, '--version', '1.0.0');
    expect(result.code).toBe(0);
    const manifest = JSON.parse(readFileSync(join(release, 'manifest.json'), 'utf8')) as { graphs: Record<string, unknown>; variants: Record<string, { files: { graph: string }[] }> };
    // Encoders first (the default graph), then the rest by name.
    expect(Object.keys(manifest.graphs)).toEqual(['encoder_v5', 'classifier-2024-05']);
    expect(manifest.variants['fp32']!.files.map((f) => f.graph)).toEqual(['encoder_v5', 'classifier-2024-05']);
  });
});

function mkdirpSync(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}

describe('quantize finds weights wherever exporters put them', () => {
  const EXPORTERS = new URL('../../models/exporters/', import.meta.url).pathname;

  /** onnxruntime-node's output for a fixed input (two rows), with `cond` for the If model. */
  async function outputs(path: string, cond?: boolean): Promise<Float32Array> {
    const ort = (await import('onnxruntime-node')).default;
    const session = await ort.InferenceSession.create(path);
    const feeds: Record<string, InstanceType<typeof ort.Tensor>> = { x: new ort.Tensor('float32', Float32Array.from({ length: 128 }, (_, i) => (i % 13) * 0.07 - 0.4), [2, 64]) };
    if (cond !== undefined) feeds['cond'] = new ort.Tensor('bool', [cond], []);
    const out = await session.run(feeds);
    await session.release();
    return Object.values(out)[0]!.data as Float32Array;
  }

  const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

  test.each([
    ['weights-as-constants', 'int8', 2, [undefined]],
    ['weights-as-constants', 'fp16', 2, [undefined]],
    ['if-subgraph', 'int8', 2, [true, false]],
    ['if-subgraph', 'fp16', 2, [true, false]],
  ] as const)('%s → %s: both weights converted, outputs close to the float32 model on onnxruntime-node', async (model, to, weights, conds) => {
    const source = join(EXPORTERS, `${model}.onnx`);
    const target = join(work, `${model}.${to}.onnx`);
    const result = await cli('quantize', source, '--to', to, '-o', target);
    expect(result.code, result.err).toBe(0);
    expect(result.out).toMatch(new RegExp(`: ${to}, ${weights} weights converted`));
    for (const cond of conds) {
      const diff = maxDiff(await outputs(source, cond), await outputs(target, cond));
      expect(diff, `cond ${String(cond)}`).toBeGreaterThan(0);
      expect(diff, `cond ${String(cond)}`).toBeLessThan(to === 'fp16' ? 2e-3 : 2e-2);
    }
  });
});

/**
 * @file What half precision breaks stays float32 in `quantize --to fp16`, and `verify` refuses a
 * variant whose outputs collapse. The fixture (models/exporters/make-fragile.mjs) has the habit that
 * broke PP-OCRv4's text detector: a BatchNormalization variance of ~1e8, Inf in float16, which made
 * every output of the fp16 variant the same (the detector's: 0 everywhere).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, test } from 'vitest';
import { decodeModel, encodeModel } from '../../src/cli/onnx-model.js';
import { cli } from '../support/cli.js';

const FIXTURE = fileURLToPath(new URL('../../models/exporters/bn-large-variance.onnx', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'ondevice-fp16-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const input = Float32Array.from({ length: 4 * 3 * 64 }, (_, i) => Math.sin(i * 0.37));

async function outputsOf(path: string, n = 1): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(path);
  const out = new Float32Array(n * 4 * 64);
  for (let i = 0; i < n; i++) {
    const result = await session.run({ x: new ort.Tensor('float32', input.slice(i * 192, (i + 1) * 192), [1, 3, 8, 8]) });
    out.set(result['y']!.data as Float32Array, i * 256);
  }
  await session.release();
  return out;
}

const spread = (values: Float32Array) => Math.max(...values) - Math.min(...values);

describe('fp16 keeps in float32 what half precision breaks', () => {
  test('a weight past float16 range (BatchNormalization variance 1e8) stays float32: the fp16 variant equals fp32', async () => {
    const out = join(work, 'fp16.onnx');
    const result = await cli('quantize', FIXTURE, '--to', 'fp16', '-o', out);
    expect(result.code, result.err).toBe(0);
    expect(result.out).toMatch(/kept in float32 .*bn\.var/);
    const [fp32, fp16] = [await outputsOf(FIXTURE, 4), await outputsOf(out, 4)];
    expect(spread(fp32)).toBeGreaterThan(0.5);
    expect(spread(fp16)).toBeGreaterThan(0.5);
    expect(fp16.reduce((m, v, i) => Math.max(m, Math.abs(v - fp32[i]!)), 0)).toBeLessThan(1e-2);
    // The variance is still float32 in the file; the Conv's weights are float16.
    const model = decodeModel(readFileSync(out), out);
    const types = Object.fromEntries(model.graph!.initializer!.map((t) => [t.name, t.dataType]));
    expect(types['bn.var']).toBe(1);
    expect(types['conv.w_fp16']).toBe(10);
  });
});

describe('verify refuses a variant whose outputs collapse', () => {
  test('every output the same where fp32 varies: FAIL, naming the variant', async () => {
    // The fp16 variant as quantize made it before: the variance in float16, which is Inf.
    const model = decodeModel(readFileSync(FIXTURE), FIXTURE);
    const variance = model.graph!.initializer!.find((t) => t.name === 'bn.var')!;
    variance.rawData = new Uint8Array(new Float32Array(4).fill(Number.POSITIVE_INFINITY).buffer);
    const folder = join(work, 'model');
    mkdirSync(folder, { recursive: true });
    copyFileSync(FIXTURE, join(folder, 'fp32.onnx'));
    writeFileSync(join(folder, 'fp16.onnx'), encodeModel(model));
    const release = join(work, 'release');
    const published = await cli('publish', folder, release, '--version', '1.0.0', '--name', 'detector');
    expect(published.code, published.err).toBe(0);
    writeFileSync(join(work, 'test.json'), JSON.stringify({ input: 'x', dims: [1, 3, 8, 8], file: 'x.bin' }));
    writeFileSync(join(work, 'x.bin'), new Uint8Array(input.slice(0, 192).buffer));
    const verified = await cli('verify', release, '--data', join(work, 'test.json'));
    expect(verified.code).not.toBe(0);
    expect(verified.out).toMatch(/FAIL fp16: its outputs collapse \(0\.5 everywhere\) where fp32's do not/);
  });
});

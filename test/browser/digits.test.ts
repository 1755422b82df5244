/**
 * @file The digits release in every engine: every variant on WASM and (where the engine has it) WebGPU (and fp32 in the page
 * too) gives onnxruntime-node's numbers for the same variant file, and ≥ 95 % accuracy.
 * All three variants compute in float32 (int8 and fp16 only store their weights smaller), so one
 * tolerance, 1e-4, holds for each.
 */
import { describe, expect, inject, test } from 'vitest';
import { loadModel, type Backend } from '../../src/index.js';
import { argmax, digitsManifest, digitsTestSet, maxAbsDiff } from './helpers.js';
import { has, usable } from './engine.js';
import { LiveHost, type ManifestJson } from './live.js';

const references = inject('variantReferences');
const mlpReferences = inject('mlpReferences');
const mlpManifest = `${inject('modelServer')}/digits-mlp/release/manifest.json`;

/** Largest |a − b| / max(1, |b|): 4-bit and half-precision kernels differ between builds in the last bits. */
function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return worst;
}

const cases: Array<[string, Backend, boolean]> = [
  ['fp32', 'wasm', true],
  ['fp32', 'wasm', false],
  ['fp32', 'webgpu', true],
  ['fp32', 'webgpu', false],
  ['int8', 'wasm', true],
  ['int8', 'webgpu', true],
  ['fp16', 'wasm', true],
  ['fp16', 'webgpu', true],
].filter(([, backend]) => has(backend as Backend)) as Array<[string, Backend, boolean]>;

describe.each(cases)('digits %s on %s (worker: %s)', (variant, backend, worker) => {
  test("outputs equal onnxruntime-node's for the same file within 1e-4, accuracy at least 95%", async () => {
    const reference = references[variant]!;
    const model = await loadModel(digitsManifest, { backend, worker, variant });
    try {
      expect(model.info).toMatchObject({ backend, variant });
      const { images, labels, count } = await digitsTestSet();
      const { logits } = await model.run({ image: { type: 'float32', data: images.slice(), dims: [count, 1, 8, 8] } });
      expect(logits?.dims).toEqual([count, 10]);
      const data = logits!.data as Float32Array;
      expect(maxAbsDiff(data, reference.logits)).toBeLessThanOrEqual(1e-4);
      let correct = 0;
      for (let i = 0; i < count; i++) if (argmax(data.subarray(i * 10, i * 10 + 10)) === labels[i]) correct++;
      expect(correct / count).toBeGreaterThanOrEqual(0.95);

      // One sample at a time gives the same numbers as the batch.
      for (const i of [0, 7, 359]) {
        const one = await model.run({ image: { type: 'float32', data: images.slice(i * 64, i * 64 + 64), dims: [1, 1, 8, 8] } });
        expect(maxAbsDiff(one['logits']!.data as Float32Array, reference.logits.slice(i * 10, i * 10 + 10))).toBeLessThanOrEqual(1e-4);
      }
    } finally {
      await model.dispose();
    }
  });
});

// The MLP whose weights are MatMuls, quantized by the CLI to MatMulNBits (models/digits-mlp/train.py).
// q4f16 computes in float16: on WebGPU only where the adapter has shader-f16 (SwiftShader has not).
type Gpu = { requestAdapter(): Promise<{ features: ReadonlySet<string> } | null> };
const gpu = (navigator as Navigator & { gpu?: Gpu }).gpu;
const shaderF16 = has('webgpu') && Boolean((await gpu?.requestAdapter())?.features.has('shader-f16'));
const fourBit = (['q4', 'q4f16'] as const)
  .flatMap((variant) => usable(['wasm', 'webgpu'] as const).map((backend) => [variant, backend] as const))
  .filter(([variant, backend]) => variant === 'q4' || backend === 'wasm' || shaderF16);

describe.each(fourBit)('digits MLP %s on %s', (variant, backend) => {
  test("outputs equal onnxruntime-node's for the same file within 1e-3 relative; top-1 agrees with fp32 on at least 99%", async () => {
    const model = await loadModel(mlpManifest, { backend, variant });
    try {
      expect(model.info).toMatchObject({ backend, variant });
      const { images, count } = await digitsTestSet();
      const { logits } = await model.run({ image: { type: 'float32', data: images.slice(), dims: [count, 1, 8, 8] } });
      expect(logits?.dims).toEqual([count, 10]);
      const data = logits!.data as Float32Array;
      expect(maxRelDiff(data, mlpReferences[variant]!.logits)).toBeLessThanOrEqual(1e-3);
      const fp32 = mlpReferences['fp32']!.logits;
      let agree = 0;
      for (let i = 0; i < count; i++) if (argmax(data.subarray(i * 10, i * 10 + 10)) === argmax(fp32.slice(i * 10, i * 10 + 10))) agree++;
      expect(agree / count).toBeGreaterThanOrEqual(0.99);
    } finally {
      await model.dispose();
    }
  });
});

test.runIf(has('webgpu') && !shaderF16)('q4f16 on a WebGPU adapter without shader-f16: refused at load, not at the first run; the walk goes on to WASM', async () => {
  const error = await loadModel(mlpManifest, { backend: 'webgpu', variant: 'q4f16' }).catch((e: unknown) => e);
  expect(error).toMatchObject({ code: 'BACKEND_UNAVAILABLE', message: expect.stringMatching(/webgpu: variant q4f16 needs shader-f16, which webgpu here does not offer/) });
  const model = await loadModel(mlpManifest, { backend: ['webgpu', 'wasm'], variant: 'q4f16' });
  try {
    expect(model.info).toMatchObject({ backend: 'wasm', variant: 'q4f16', fallbacks: [{ backend: 'webgpu', reason: expect.stringMatching(/needs shader-f16/) }] });
    const { images } = await digitsTestSet();
    const { logits } = await model.run({ image: { type: 'float32', data: images.slice(0, 64), dims: [1, 1, 8, 8] } });
    expect(maxRelDiff(logits!.data as Float32Array, mlpReferences['q4f16']!.logits.slice(0, 10))).toBeLessThanOrEqual(1e-3);
  } finally {
    await model.dispose();
  }
});

describe('variant selection', () => {
  test("'auto' passes 4-bit variants over where they are slower, and says so", async () => {
    const model = await loadModel(mlpManifest, { backend: 'wasm' });
    expect(model.info).toMatchObject({ backend: 'wasm', variant: 'int8' });
    expect(model.info.fallbacks.map((f) => f.variant)).toEqual(['q4', 'q4f16']);
    expect(model.info.fallbacks[0]!.reason).toMatch(/q4 ranks after int8 on wasm: .*pass variant: 'q4' to load it/);
    await model.dispose();
  });

  test("'auto' on WASM picks int8", async () => {
    const model = await loadModel(digitsManifest, { backend: 'wasm' });
    expect(model.info).toMatchObject({ backend: 'wasm', variant: 'int8', fallbacks: [] });
    await model.dispose();
  });

  test("a variant whose manifest `requires` a feature no backend has: skipped by 'auto', refused when asked for", async () => {
    const host = new LiveHost();
    const published = (await (await fetch(digitsManifest)).json()) as ManifestJson & { variants: Record<string, { requires?: string[] }> };
    published.variants['int8']!.requires = ['shader-f16'];
    await host.publish(published);
    const auto = await loadModel(host.url, { backend: 'wasm' });
    expect(auto.info).toMatchObject({ variant: 'fp32', fallbacks: [{ backend: 'wasm', variant: 'int8', reason: 'variant int8 needs shader-f16, which wasm here does not offer' }] });
    await auto.dispose();
    const error = await loadModel(host.url, { variant: 'int8', backend: ['webgpu', 'wasm'] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BACKEND_UNAVAILABLE', message: expect.stringMatching(/webgpu: variant int8 needs shader-f16.*wasm: variant int8 needs shader-f16/) });
  });

  test('a variant the manifest does not offer is INPUT_INVALID, listing what it offers', async () => {
    const error = await loadModel(digitsManifest, { variant: 'q4' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'INPUT_INVALID', message: expect.stringMatching(/does not offer; it offers "fp16", "fp32", "int8"/) });
  });
});

describe('onnx session settings', () => {
  test.each(usable(['wasm', 'webgpu'] as const))("prepacking off and no graph optimisation on %s: onnxruntime-node's numbers all the same", async (backend) => {
    const model = await loadModel(digitsManifest, { backend, variant: 'fp32', onnx: { disablePrepacking: true, graphOptimizationLevel: 'disabled' } });
    const { images, count } = await digitsTestSet();
    const { logits } = await model.run({ image: { type: 'float32', data: images.slice(), dims: [count, 1, 8, 8] } });
    expect(maxAbsDiff(logits!.data as Float32Array, references['fp32']!.logits)).toBeLessThanOrEqual(1e-4);
    await model.dispose();
  });

  test('a setting the library does not type is INPUT_INVALID before any request', async () => {
    const error = await loadModel(digitsManifest, { onnx: { enableProfiling: true } as never }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'INPUT_INVALID', details: { input: 'onnx.enableProfiling' } });
  });
});

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

describe('variant selection', () => {
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

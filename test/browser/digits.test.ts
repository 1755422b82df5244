/** @file The digits model in real Chromium, on WASM and WebGPU, in the worker and in the page: onnxruntime-node's numbers. */
import { describe, expect, inject, test } from 'vitest';
import { loadModel, type Backend } from '../../src/index.js';
import { argmax, digitsManifest, digitsTestSet, maxAbsDiff } from './helpers.js';

const reference = inject('referenceLogits');

const cases: Array<[Backend, boolean]> = [
  ['wasm', true],
  ['wasm', false],
  ['webgpu', true],
  ['webgpu', false],
];

describe.each(cases)('digits on %s (worker: %s)', (backend, worker) => {
  test('outputs equal onnxruntime-node within 1e-4 and accuracy is at least 95%', async () => {
    const model = await loadModel(digitsManifest, { backend, worker });
    try {
      expect(model.info.backend).toBe(backend);
      expect(model.info.fallbacks).toEqual([]);
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

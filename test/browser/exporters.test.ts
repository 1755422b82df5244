/**
 * @file Models as other people's exporters write them (models/exporters/, made by make.py there),
 * loaded as a user would and checked against onnxruntime-node on the same file.
 */
import { describe, expect, inject, test } from 'vitest';
import { loadModel } from '../../src/index.js';
import { maxAbsDiff, server } from './helpers.js';

const references = inject('classifierReferences');

function classifierInput(rows: number): Float32Array {
  return Float32Array.from({ length: rows * 64 }, (_, i) => (i % 17) * 0.05 - 0.4);
}

describe.each([true, false])('a dimension with neither a size nor a name (worker: %s)', (worker) => {
  test.each(['wasm', 'webgpu'] as const)('is free on %s: info shows a name, and runs of any row count match onnxruntime-node', async (backend) => {
    const model = await loadModel(`${server}/exporters/classifier-2024-05.onnx`, { backend, worker });
    expect(model.info.backend).toBe(backend);
    expect(model.info.inputs).toEqual([{ name: 'features', type: 'float32', dims: ['d0', 64] }]);
    expect(model.info.outputs).toEqual([{ name: 'logits', type: 'float32', dims: ['d0', 10] }]);
    for (const rows of [1, 3]) {
      const { logits } = await model.run({ features: { type: 'float32', data: classifierInput(rows), dims: [rows, 64] } });
      expect(logits!.dims).toEqual(references[rows]!.dims);
      expect(maxAbsDiff(logits!.data as Float32Array, references[rows]!.logits)).toBeLessThanOrEqual(1e-5);
    }
    await model.dispose();
  });
});

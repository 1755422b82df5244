/**
 * @file Models as other people's exporters write them (models/exporters/, made by make.py there),
 * loaded as a user would and checked against onnxruntime-node on the same file.
 */
import { describe, expect, inject, test } from 'vitest';
import { loadModel, type TensorMap } from '../../src/index.js';
import { usable } from './engine.js';
import { digitsTestSet, maxAbsDiff, server } from './helpers.js';

const references = inject('classifierReferences');

function classifierInput(rows: number): Float32Array {
  return Float32Array.from({ length: rows * 64 }, (_, i) => (i % 17) * 0.05 - 0.4);
}

describe.each([true, false])('a dimension with neither a size nor a name (worker: %s)', (worker) => {
  test.each(usable(['wasm', 'webgpu'] as const))('is free on %s: info shows a name, and runs of any row count match onnxruntime-node', async (backend) => {
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

const releases = inject('quantizedReleases');

function tensors(inputs: Record<string, { type: string; data: number[]; dims: number[] }>): TensorMap {
  return Object.fromEntries(
    Object.entries(inputs).map(([name, t]) => [name, { type: t.type, data: t.type === 'bool' ? Uint8Array.from(t.data) : Float32Array.from(t.data), dims: t.dims } as TensorMap[string]]),
  );
}

describe.each(['weights-as-constants', 'if-subgraph'])('ONNX %s, quantized by the CLI and published', (name) => {
  const release = releases[name]!;
  test.each(['fp32', 'int8', 'fp16'].flatMap((variant) => usable(['wasm', 'webgpu'] as const).map((backend) => [variant, backend] as const)))('%s on %s equals onnxruntime-node on the same file', async (variant, backend) => {
    const model = await loadModel(`${server}${release.manifest}`, { backend, variant, worker: backend === 'wasm' });
    expect(model.info).toMatchObject({ variant, backend });
    const out = Object.values(await model.run(tensors(release.inputs)))[0]!;
    expect(out.dims).toEqual(release.variants[variant]!.dims);
    expect(maxAbsDiff(out.data as Float32Array, release.variants[variant]!.logits)).toBeLessThanOrEqual(1e-4);
    await model.dispose();
  });
});

describe('the TF.js digits model, quantized by the CLI to TF.js formats and published', () => {
  const release = releases['tfjs']!;
  test.each(['fp16', 'uint8', 'uint16'].flatMap((variant) => usable(['webgpu', 'webgl', 'wasm', 'cpu'] as const).map((backend) => [variant, backend] as const)))('%s on %s equals TF.js CPU in Node on the same files', async (variant, backend) => {
    const { images, count } = await digitsTestSet();
    const model = await loadModel(`${server}${release.manifest}`, { backend, variant, worker: backend !== 'cpu' });
    expect(model.info).toMatchObject({ variant, backend });
    const { logits } = await model.run({ image: { type: 'float32', data: images.slice(0, count * 64), dims: [count, 8, 8, 1] } });
    expect(maxAbsDiff(logits!.data as Float32Array, release.variants[variant]!.logits)).toBeLessThanOrEqual(1e-4);
    await model.dispose();
  });
});

describe.each([true, false])('a stateful model, its state fed back across calls, with an int64 scalar input (worker: %s)', (worker) => {
  const release = inject('statefulRelease');
  test.each(usable(['wasm', 'webgpu'] as const))('on %s, every call equals onnxruntime-node', async (backend) => {
    const model = await loadModel(`${server}${release.manifest}`, { backend, worker });
    expect(model.info.inputs.map((i) => [i.name, i.type, i.dims])).toEqual([['x', 'float32', [1, 16]], ['state', 'float32', [1, 8]], ['sr', 'int64', []]]);
    let state: Float32Array<ArrayBufferLike> = new Float32Array(8);
    const ys: number[] = [];
    for (let t = 0; t < release.ys.length; t++) {
      const x = Float32Array.from({ length: 16 }, (_, i) => Math.sin(i * 0.7 + t));
      const out = await model.run({ x: { type: 'float32', data: x, dims: [1, 16] }, state: { type: 'float32', data: state, dims: [1, 8] }, sr: { type: 'int64', data: BigInt64Array.from([16000n]), dims: [] } });
      ys.push((out['y']!.data as Float32Array)[0]!);
      state = out['stateN']!.data as Float32Array;
    }
    expect(maxAbsDiff(ys, release.ys)).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDiff(state, release.state)).toBeLessThanOrEqual(1e-5);
    await model.dispose();
  });
});

describe.each(['exported', 'split'] as const)('ONNX external data (%s)', (kind) => {
  const manifest = inject('externalDataReleases')[kind];
  test.each(usable(['wasm', 'webgpu'] as const))("the model and its data file load together on %s and equal onnxruntime-node's outputs", async (backend) => {
    const files = ((await (await fetch(`${server}${manifest}`)).json()) as { variants: { fp32: { files: Array<{ path: string }> } } }).variants.fp32.files;
    expect(files.map((f) => f.path.split('.').at(-1))).toEqual(['onnx', 'data']);
    const model = await loadModel(`${server}${manifest}`, { backend });
    for (const rows of [1, 3]) {
      const { logits } = await model.run({ features: { type: 'float32', data: classifierInput(rows), dims: [rows, 64] } });
      expect(maxAbsDiff(logits!.data as Float32Array, references[rows]!.logits)).toBeLessThanOrEqual(1e-5);
    }
    await model.dispose();
  });
});

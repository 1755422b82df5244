/**
 * @file TF.js models in real Chromium: the digits layers model on WebGPU, WebGL, WASM and CPU, in the
 * worker and in the page, and the graph model, each against TF.js's own CPU result in Node for the
 * same files; backend order; bad input and bad files; no tensor leak.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, inject, test } from 'vitest';
import { loadModel, type Backend } from '../../src/index.js';
import { has, usable } from './engine.js';
import { argmax, digitsTestSet, expectOndeviceError, maxAbsDiff, server } from './helpers.js';
import { LiveHost, type ManifestJson } from './live.js';

const references = inject('tfjsReferences');
const layersUrl = `${server}/digits-tfjs/layers/manifest.json`;
const graphUrl = `${server}/digits-tfjs/graph/manifest.json`;

/**
 * Tolerance against TF.js's CPU result: 1e-4 on every backend. Measured max |Δ| over the 3,600 logits
 * (magnitudes up to ~20): CPU 0 (the same JavaScript kernels), WebGPU, WebGL and WASM 7.6e-6, one
 * float32 ulp at that magnitude: all compute in float32 and differ only in summation order.
 */
const TOLERANCE: Partial<Record<Backend, number>> = { webgpu: 1e-4, webgl: 1e-4, wasm: 1e-4, cpu: 1e-4 };

const layersCases = ([
  ['webgpu', true],
  ['webgpu', false],
  ['webgl', true],
  ['webgl', false],
  ['wasm', true],
  ['wasm', false],
  ['cpu', true],
  ['cpu', false],
] as Array<[Backend, boolean]>).filter(([backend]) => has(backend));

function accuracy(logits: Float32Array, labels: readonly number[]): number {
  let correct = 0;
  labels.forEach((label, i) => {
    if (argmax(logits.subarray(i * 10, i * 10 + 10)) === label) correct++;
  });
  return correct / labels.length;
}

describe.each(layersCases)('digits layers model on %s (worker: %s)', (backend, worker) => {
  test("outputs equal TF.js's CPU result in Node for the same files, accuracy at least 95%", async () => {
    const model = await loadModel(layersUrl, { backend, worker });
    try {
      expect(model.info).toMatchObject({ runtime: 'tfjs-layers', backend, variant: 'fp32', fallbacks: [] });
      expect(model.info.inputs).toEqual([{ name: 'image', type: 'float32', dims: ['batch', 8, 8, 1] }]);
      expect(model.info.outputs).toEqual([{ name: 'logits', type: 'float32', dims: ['batch', 10] }]);
      const { images, labels, count } = await digitsTestSet();
      const { logits } = await model.run({ image: { type: 'float32', data: images.slice(), dims: [count, 8, 8, 1] } });
      expect(logits?.dims).toEqual([count, 10]);
      const data = logits!.data as Float32Array;
      const diff = maxAbsDiff(data, references.layers.logits);
      expect(diff).toBeLessThanOrEqual(TOLERANCE[backend]!);
      expect(accuracy(data, labels)).toBeGreaterThanOrEqual(0.95);
      const one = await model.run({ image: { type: 'float32', data: images.slice(7 * 64, 8 * 64), dims: [1, 8, 8, 1] } });
      expect(maxAbsDiff(one['logits']!.data as Float32Array, references.layers.logits.slice(70, 80))).toBeLessThanOrEqual(TOLERANCE[backend]!);
    } finally {
      await model.dispose();
    }
  });
});

describe.each(
  ([
    ['webgpu', true],
    ['webgl', true],
    ['wasm', true],
    ['wasm', false],
    ['cpu', true],
  ] as Array<[Backend, boolean]>).filter(([backend]) => has(backend)),
)('digits graph model on %s (worker: %s)', (backend, worker) => {
  test("outputs equal TF.js's CPU result in Node, accuracy at least 95%", async () => {
    const model = await loadModel(graphUrl, { backend, worker });
    try {
      expect(model.info).toMatchObject({ runtime: 'tfjs-graph', backend, fallbacks: [] });
      // model.json's signature writes the input as "image:0": a run takes that name too, and info says so.
      expect(model.info.inputs).toEqual([{ name: 'image', type: 'float32', dims: ['batch', 64], aliases: ['image:0'] }]);
      expect(model.info.outputs).toEqual([{ name: 'logits', type: 'float32', dims: ['batch', 10] }]);
      const { images, labels, count } = await digitsTestSet();
      const { logits } = await model.run({ image: { type: 'float32', data: images.slice(), dims: [count, 64] } });
      expect(logits?.dims).toEqual([count, 10]);
      expect(maxAbsDiff(logits!.data as Float32Array, references.graph.logits)).toBeLessThanOrEqual(TOLERANCE[backend]!);
      expect(accuracy(logits!.data as Float32Array, labels)).toBeGreaterThanOrEqual(0.95);
      const bySignature = await model.run({ 'image:0': { type: 'float32', data: images.slice(), dims: [count, 64] } });
      expect(maxAbsDiff(bySignature['logits']!.data as Float32Array, references.graph.logits)).toBeLessThanOrEqual(TOLERANCE[backend]!);
      const twice = await expectOndeviceError(model.run({ image: { type: 'float32', data: images.slice(0, 64), dims: [1, 64] }, 'image:0': { type: 'float32', data: images.slice(0, 64), dims: [1, 64] } }), 'INPUT_INVALID');
      expect(twice.message).toMatch(/given twice/);
    } finally {
      await model.dispose();
    }
  });
});

describe.each<[Backend, boolean]>([
  ['wasm', true],
  // In the page, on the first GPU backend the engine has (else TF.js's CPU kernels).
  [usable(['webgpu', 'webgl', 'cpu'] as const)[0]!, false],
])('a graph with a dynamic-shape op (Where, which TF.js runs only asynchronously) on %s (worker: %s)', (backend, worker) => {
  test('runs through executeAsync and returns int32 indices', async () => {
    const model = await loadModel(`${server}/tfjs-nonzero/release/manifest.json`, { backend, worker });
    expect(model.info.outputs).toEqual([{ name: 'nonzero', type: 'int32', dims: ['batch', 1] }]);
    const out = await model.run({ x: { type: 'float32', data: new Float32Array([0, 1.5, 0, -2, 0]), dims: [5] } });
    expect(out['nonzero']).toEqual({ type: 'int32', data: new Int32Array([1, 3]), dims: [2, 1] });
    await model.dispose();
  });
});

describe('backend order', () => {
  test("'auto' takes WebGPU first when the adapter is real, else the next the engine has, and says why", async () => {
    const model = await loadModel(layersUrl);
    const order = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
    const best = usable(order)[0]!;
    const skipped = order.slice(0, order.indexOf(best)).map((backend) => ({ backend, reason: expect.stringMatching(/WebGPU|WebGL/) }));
    expect(model.info).toMatchObject({ runtime: 'tfjs-layers', backend: best, fallbacks: skipped });
    await model.dispose();
  });

  test('an explicit list is honoured in its order, and backends a runtime lacks are reported, not tried', async () => {
    const model = await loadModel(layersUrl, { backend: ['webgl', 'wasm'] });
    if (has('webgl')) expect(model.info).toMatchObject({ backend: 'webgl', fallbacks: [] });
    else expect(model.info).toMatchObject({ backend: 'wasm', fallbacks: [{ backend: 'webgl', reason: expect.stringMatching(/WebGL/) }] });
    await model.dispose();
    // The same list for an ONNX model: onnxruntime-web has no WebGL, so it runs on WASM and says why.
    const onnx = await loadModel(`${server}/digits/release/manifest.json`, { backend: ['webgl', 'wasm'], variant: 'fp32' });
    expect(onnx.info).toMatchObject({ runtime: 'onnx', backend: 'wasm', fallbacks: [{ backend: 'webgl', reason: expect.stringMatching(/WebGL backend is deprecated/) }] });
    await onnx.dispose();
  });
});

test('two TF.js models on different backends in one worker, run at once, each give their own numbers', async () => {
  // One TF.js engine per worker with one active backend: the adapter's queue switches it per run.
  const gpu = has('webgl') ? 'webgl' : 'cpu';
  const [layers, graph] = await Promise.all([loadModel(layersUrl, { backend: gpu }), loadModel(graphUrl, { backend: 'wasm' })]);
  expect([layers.info.backend, graph.info.backend]).toEqual([gpu, 'wasm']);
  const { images } = await digitsTestSet();
  const runs = Array.from({ length: 20 }, (_, i) => [
    layers.run({ image: { type: 'float32', data: images.slice(i * 64, i * 64 + 64), dims: [1, 8, 8, 1] } }),
    graph.run({ image: { type: 'float32', data: images.slice(i * 64, i * 64 + 64), dims: [1, 64] } }),
  ]);
  const results = await Promise.all(runs.flat());
  results.forEach((out, k) => {
    const [i, reference] = [Math.floor(k / 2), k % 2 === 0 ? references.layers : references.graph];
    expect(maxAbsDiff(out['logits']!.data as Float32Array, reference.logits.slice(i * 10, i * 10 + 10))).toBeLessThanOrEqual(1e-4);
  });
  await Promise.all([layers.dispose(), graph.dispose()]);
});

describe('bad input', () => {
  test('wrong names, dtypes and shapes: INPUT_INVALID naming the input and what it expects; the model keeps serving', async () => {
    const model = await loadModel(layersUrl, { backend: 'wasm' });
    const { images } = await digitsTestSet();
    const good = () => ({ type: 'float32' as const, data: images.slice(0, 64), dims: [1, 8, 8, 1] });
    const wrongName = await expectOndeviceError(model.run({ pixels: good() }), 'INPUT_INVALID');
    expect(wrongName.message).toMatch(/"pixels" is not an input of this model; its inputs are "image"/);
    const wrongType = await expectOndeviceError(model.run({ image: { type: 'int32', data: new Int32Array(64), dims: [1, 8, 8, 1] } }), 'INPUT_INVALID');
    expect(wrongType).toMatchObject({ message: expect.stringMatching(/"image" must be float32, got int32/), details: { input: 'image', expected: 'float32' } });
    const wrongShape = await expectOndeviceError(model.run({ image: { type: 'float32', data: images.slice(0, 64), dims: [1, 1, 8, 8] } }), 'INPUT_INVALID');
    expect(wrongShape).toMatchObject({ message: expect.stringMatching(/"image" must have dims \[batch, 8, 8, 1\], got \[1, 1, 8, 8\]/), details: { input: 'image' } });
    const out = await model.run({ image: good() });
    expect(maxAbsDiff(out['logits']!.data as Float32Array, references.layers.logits.slice(0, 10))).toBeLessThanOrEqual(1e-4);
    await model.dispose();
  });

  /**
   * The layers release with its fp32 files replaced by real files of the server, listed with the hashes
   * of what the host serves (so they pass integrity). `name=>folder/file` lists `name` but serves the
   * other file's bytes.
   */
  async function broken(files: (paths: string[]) => string[]): Promise<LiveHost> {
    const manifest = (await (await fetch(layersUrl)).json()) as ManifestJson;
    const host = new LiveHost();
    const swaps: Record<string, string> = {};
    const names = files(manifest.variants.fp32.files.map((f) => f.path)).map((entry) => {
      const [listedAs, source] = entry.includes('=>') ? (entry.split('=>') as [string, string]) : [entry, entry];
      const name = listedAs.split('/').pop()!;
      if (source !== listedAs) swaps[name] = source.split('/').pop()!;
      return name;
    });
    await host.swap(swaps);
    const listed = await Promise.all(
      names.map(async (name) => {
        const bytes = await (await fetch(`${host.base}${name}`)).arrayBuffer();
        const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
        return { path: name, size: bytes.byteLength, sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('') };
      }),
    );
    await host.publish({ ...manifest, variants: { fp32: { files: listed } } });
    return host;
  }

  test.each<[string, (paths: string[]) => string[], RegExp]>([
    ['a model.json that is not JSON', ([, a, b]) => [`layers/${a}`, `layers/${b}`], /is not JSON/],
    ['a model.json that is JSON but no model', ([, a, b]) => ['layers/manifest.1.0.0.json', `layers/${a}`, `layers/${b}`], /has no "modelTopology" object/],
    ['a missing shard', ([json, a]) => [`layers/${json}`, `layers/${a}`], /names the weight shard "digits-layers\.fp32\.[0-9a-f]{8}\.bin", which is not among the model's files/],
    ['a shard of another model', ([json, a, b]) => [`layers/${json}`, `layers/${a}`, `${b}=>graph/SHARD`], /shards hold 18716 bytes but its weightsManifest describes 18152/],
    ['a graph model where the manifest says layers', () => ['graph/GRAPH_JSON', 'graph/SHARD'], /it is a graph-model, but the manifest's runtime says tfjs-layers/],
  ])('%s: MODEL_INVALID, and the worker keeps serving', async (_, files, message) => {
    const graph = ((await (await fetch(graphUrl)).json()) as ManifestJson).variants.fp32.files.map((f) => f.path);
    const host = await broken((paths) => files(paths).map((p) => p.replace('GRAPH_JSON', graph[0]!).replace('SHARD', graph[1]!)));
    const worker = new Worker(new URL('../../src/worker/worker.ts', import.meta.url), { type: 'module' });
    try {
      const error = await expectOndeviceError(loadModel(host.url, { backend: 'wasm', worker }), 'MODEL_INVALID');
      expect(error.message).toMatch(message);
      const model = await loadModel(layersUrl, { backend: 'wasm', worker });
      expect(model.info.backend).toBe('wasm');
      await model.dispose();
    } finally {
      worker.terminate();
    }
  });
});

test('no tensor leak: tf.memory().numTensors is the same after 1,000 runs', async () => {
  // In the page, so this test sees the same TF.js engine the adapter uses.
  const model = await loadModel(layersUrl, { backend: 'cpu', worker: false });
  const { images } = await digitsTestSet();
  const input = () => ({ image: { type: 'float32' as const, data: images.slice(0, 64 * 4), dims: [4, 8, 8, 1] } });
  await model.run(input());
  const before = tf.memory().numTensors;
  for (let i = 0; i < 1000; i++) await model.run(input());
  expect(tf.memory().numTensors).toBe(before);
  await model.dispose();
  // Disposing the model frees its weights too.
  expect(tf.memory().numTensors).toBeLessThan(before);
});

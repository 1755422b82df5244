/**
 * @file `model.stats()` in real Chromium, in the worker and in the page, on WASM and WebGPU: runs,
 * failures by code (those rejected in the page included), latency percentiles, load phases; and the
 * app's own sink, `onStats`.
 */
import { describe, expect, test } from 'vitest';
import { loadModel, modelCache, type ModelStats } from '../../src/index.js';
import { usable } from './engine.js';
import { digitsManifest, expectOndeviceError } from './helpers.js';
import { eventually } from './live.js';

const image = () => ({ type: 'float32' as const, data: new Float32Array(64), dims: [1, 1, 8, 8] });

describe.each([true, false])('model.stats() (worker: %s)', (worker) => {
  test.each(usable(['wasm', 'webgpu'] as const))('on %s: runs, failures by code, latency and load phases, for this model only', async (backend) => {
    await modelCache.clear();
    const model = await loadModel(digitsManifest, { backend, worker, variant: 'fp32' });
    const before = await model.stats();
    expect(before).toMatchObject({ runs: 0, failures: {}, latencyMs: { p50: 0, p90: 0, p99: 0, mean: 0, max: 0 }, backend, variant: 'fp32', version: '1.0.0' });
    // A cold load: the manifest was asked, the file downloaded and verified, the session compiled.
    expect(Object.keys(before.load.phases)).toEqual(expect.arrayContaining(['manifest', 'download', 'verify', 'compile', 'ready']));
    const phaseSum = Object.values(before.load.phases).reduce((a, b) => a + b, 0);
    expect(phaseSum).toBeLessThanOrEqual(before.load.ms + 1e-6);
    expect(before.load.ms).toBeGreaterThan(0);

    for (let i = 0; i < 30; i++) await model.run({ image: image() });
    await expectOndeviceError(model.run({ image: { type: 'float32', data: new Float32Array(63), dims: [1, 1, 8, 8] } }), 'INPUT_INVALID');
    await expectOndeviceError(model.run({ picture: image() } as never), 'INPUT_INVALID');
    const after: ModelStats = await model.stats();
    expect(after.runs).toBe(30);
    expect(after.failures).toEqual({ INPUT_INVALID: 2 });
    const { p50, p90, p99, mean, max } = after.latencyMs;
    expect(p50).toBeGreaterThan(0);
    expect(p50).toBeLessThanOrEqual(p90);
    expect(p90).toBeLessThanOrEqual(p99);
    expect(p99).toBeLessThanOrEqual(max);
    expect(mean).toBeGreaterThan(0);
    expect(mean).toBeLessThanOrEqual(max);
    expect(after.load).toEqual(before.load);

    // Another model of the same file keeps its own numbers.
    const other = await loadModel(digitsManifest, { backend, worker, variant: 'fp32' });
    expect((await other.stats()).runs).toBe(0);
    await other.dispose();
    await model.dispose();
    await expectOndeviceError(model.stats(), 'DISPOSED');
  });
});

test("onStats: the app's own sink hears the stats every 100 runs; the library sends nothing", async () => {
  const heard: ModelStats[] = [];
  const model = await loadModel(digitsManifest, { backend: 'wasm', onStats: (s) => heard.push(s) });
  for (let i = 0; i < 99; i++) await model.run({ image: image() });
  expect(heard).toEqual([]);
  await model.run({ image: image() });
  await eventually(() => heard.length === 1, 'the sink');
  expect(heard[0]).toMatchObject({ runs: 100, failures: {}, backend: 'wasm' });
  await model.dispose();
});

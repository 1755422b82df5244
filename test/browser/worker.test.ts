/** @file The worker: 200 concurrent runs, one worker for many models, and a worker that dies. */
import { describe, expect, inject, test } from 'vitest';
import { loadModel } from '../../src/index.js';
import { argmax, digitsManifest, digitsTestSet, expectOndeviceError, maxAbsDiff, quiet } from './helpers.js';
import { bestOnnxBackend, has } from './engine.js';
import { eventually } from './live.js';
import { setWorkerFactory, setWorkerLinger } from '../../src/worker/client.js';
import { gpuContextHeld, releaseGpuHold, setGpuHold } from '../../src/runtime/onnx.js';
import { SUITE_HOLD_MS } from './setup.js';

const reference = inject('referenceLogits');

function newWorker(): Worker {
  return new Worker(new URL('../../src/worker/worker.ts', import.meta.url), { type: 'module' });
}

describe.each([true, false])('200 concurrent runs (worker: %s)', (worker) => {
  test('every call resolves with its own sample\'s result', async () => {
    const model = await loadModel(digitsManifest, { backend: 'wasm', worker, variant: 'fp32' });
    const { images, count } = await digitsTestSet();
    const picks = Array.from({ length: 200 }, (_, k) => (k * 7919) % count);
    const results = await Promise.all(
      picks.map((i) => model.run({ image: { type: 'float32', data: images.slice(i * 64, i * 64 + 64), dims: [1, 1, 8, 8] } })),
    );
    results.forEach((out, k) => {
      const i = picks[k]!;
      const want = reference.logits.slice(i * 10, i * 10 + 10);
      const got = out['logits']!.data as Float32Array;
      expect(maxAbsDiff(got, want), `call ${k} (sample ${i})`).toBeLessThanOrEqual(1e-4);
      expect(argmax(got)).toBe(argmax(want));
    });
    await model.dispose();
  });
});

test('one worker hosts several models, each disposable on its own', async () => {
  const app = newWorker();
  const a = await loadModel(digitsManifest, { backend: 'wasm', worker: app, variant: 'fp32' });
  // Two sessions of one runtime on two backends where the engine has a second one.
  const second = bestOnnxBackend;
  const b = await loadModel(digitsManifest, { backend: second, worker: app, variant: 'fp32' });
  expect([a.info.backend, b.info.backend]).toEqual(['wasm', second]);
  const input = () => ({ image: { type: 'float32' as const, data: new Float32Array(64).fill(0.5), dims: [1, 1, 8, 8] } });
  const [ra, rb] = await Promise.all([a.run(input()), b.run(input())]);
  expect(maxAbsDiff(ra['logits']!.data as Float32Array, rb['logits']!.data as Float32Array)).toBeLessThanOrEqual(1e-4);
  await a.dispose();
  await expectOndeviceError(a.run(input()), 'DISPOSED');
  expect((await b.run(input()))['logits']!.dims).toEqual([1, 10]);
  await b.dispose();
  app.terminate();
});

describe('a worker that dies', () => {
  test('pending and later calls reject with WORKER_CRASHED instead of hanging; a new load works', async () => {
    const app = newWorker();
    const model = await loadModel(digitsManifest, { backend: 'wasm', worker: app, variant: 'fp32' });
    const { images, count } = await digitsTestSet();
    const pending = Array.from({ length: 50 }, () => model.run({ image: { type: 'float32', data: images.slice(), dims: [count, 1, 8, 8] } }));
    app.terminate();
    const settled = await Promise.allSettled(pending);
    const crashed = settled.filter((s) => s.status === 'rejected');
    // Some calls may have finished before the worker died; none may hang, and the rest say why.
    expect(crashed.length).toBeGreaterThan(0);
    for (const s of crashed) expect((s as PromiseRejectedResult).reason).toMatchObject({ name: 'OndeviceError', code: 'WORKER_CRASHED' });
    await expectOndeviceError(model.run({ image: { type: 'float32', data: new Float32Array(64), dims: [1, 1, 8, 8] } }), 'WORKER_CRASHED');
    await model.dispose();
    await expectOndeviceError(loadModel(digitsManifest, { worker: app }), 'WORKER_CRASHED');

    const again = await loadModel(digitsManifest, { backend: 'wasm', worker: newWorker(), variant: 'fp32' });
    const out = await again.run({ image: { type: 'float32', data: images.slice(0, 64), dims: [1, 1, 8, 8] } });
    expect(maxAbsDiff(out['logits']!.data as Float32Array, reference.logits.slice(0, 10))).toBeLessThanOrEqual(1e-4);
    await again.dispose();
  });

  test('a worker whose script does not load rejects the load with WORKER_CRASHED', async () => {
    const broken = new Worker('/definitely-not-here.js', { type: 'module' });
    const error = await expectOndeviceError(loadModel(digitsManifest, { worker: broken }), 'WORKER_CRASHED');
    expect(error.message).toMatch(/its script (failed|could not be loaded)/);
  });

  test('the library\'s own worker outlives its last model by its linger: a load within it reuses the worker, one after it gets a new one', async () => {
    // Each library worker holds a Web Lock named ondevice-worker-<id> for as long as it lives.
    const workers = async () => ((await navigator.locks.query()).held ?? []).map((l) => l.name ?? '').filter((n) => n.startsWith('ondevice-worker-'));
    // A fresh input each run: a run transfers its input's buffer to the worker.
    const image = () => ({ type: 'float32' as const, data: new Float32Array(64), dims: [1, 1, 8, 8] });
    await quiet();
    // Workers left lingering by earlier tests end now, so this test's first load starts its own.
    setWorkerFactory(undefined);
    const before = await workers();
    try {
      // A linger no busy machine outlasts: whether the worker is reused does not depend on timing.
      setWorkerLinger(600_000);
      const first = await loadModel(digitsManifest, { backend: 'wasm' });
      const during = (await workers()).filter((n) => !before.includes(n));
      expect(during.length).toBeGreaterThan(0);
      await first.dispose();
      // Its last model gone, the worker stays while it lingers. (Without a linger it ends as soon as
      // it has drained, within this pause; with one, how long the pause lasts does not matter.)
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect((await workers()).filter((n) => !before.includes(n))).toEqual(during);
      // ... and the next load uses it.
      const second = await loadModel(digitsManifest, { backend: 'wasm' });
      expect((await workers()).filter((n) => !before.includes(n))).toEqual(during);
      expect((await second.run({ image: image() }))['logits']!.dims).toEqual([1, 10]);

      // ... and ends once the linger is over (its WASM memory goes back to the device) ...
      setWorkerLinger(0);
      await second.dispose();
      await eventually(async () => (await workers()).every((n) => !during.includes(n)), 'the worker to end');
      // ... so the next load gets a new one.
      const third = await loadModel(digitsManifest, { backend: 'wasm' });
      const after = (await workers()).filter((n) => !before.includes(n));
      expect(after.length).toBeGreaterThan(0);
      expect(after.filter((n) => during.includes(n))).toEqual([]);
      expect((await third.run({ image: image() }))['logits']!.dims).toEqual([1, 10]);
      await third.dispose();
    } finally {
      setWorkerLinger(SUITE_HOLD_MS);
    }
  });
});

describe("an app's own worker with one runtime (ondevice/worker/onnx)", () => {
  test('runs ONNX models; a TF.js model is BACKEND_UNAVAILABLE saying which entry to use, and the worker still serves', async () => {
    const worker = new Worker(new URL('../../src/worker/worker-onnx.ts', import.meta.url), { type: 'module' });
    try {
      const error = await expectOndeviceError(loadModel(`${digitsManifest.replace('digits/release', 'digits-tfjs/layers')}`, { backend: 'wasm', worker }), 'BACKEND_UNAVAILABLE');
      expect(error.message).toMatch(/The Worker passed as option "worker" does not run "tfjs-layers" models: import 'ondevice\/worker' \(every runtime\) or 'ondevice\/worker\/tfjs' in it/);
      // The manifest the worker fetched stays inside the library: nothing of it leaks into the error.
      expect(error.details).toEqual({ runtime: 'tfjs-layers' });
      const model = await loadModel(digitsManifest, { backend: 'wasm', worker, variant: 'fp32' });
      expect(model.info.runtime).toBe('onnx');
      await model.dispose();
    } finally {
      worker.terminate();
    }
  });
});

/**
 * onnxruntime-web frees its WebGPU device, and every pipeline compiled on it, with the last WebGPU
 * session of a JavaScript context; the library holds it for the linger after (src/runtime/onnx.ts).
 * Counted in the page, where the test can see the device's calls: the worker runs the same code.
 */
describe.runIf(has('webgpu'))('WebGPU pipelines outlive a session by the linger (worker: false)', () => {
  test('a model loaded again within it compiles no pipeline and gives the same logits; after it, the device is let go and the next load compiles again', async () => {
    const { images } = await digitsTestSet();
    const want = reference.logits.slice(0, 10);
    const compiled: string[] = [];
    const proto = GPUDevice.prototype as unknown as Record<'createComputePipeline' | 'createComputePipelineAsync', (...args: unknown[]) => unknown>;
    const originals = { sync: proto.createComputePipeline, async: proto.createComputePipelineAsync };
    proto.createComputePipeline = function (this: GPUDevice, ...args: unknown[]) {
      compiled.push('sync');
      return originals.sync.apply(this, args);
    };
    proto.createComputePipelineAsync = function (this: GPUDevice, ...args: unknown[]) {
      compiled.push('async');
      return originals.async.apply(this, args);
    };
    /** Loads, runs the first test image, disposes; returns how many pipelines that compiled. */
    const loadRunDispose = async (): Promise<number> => {
      compiled.length = 0;
      const model = await loadModel(digitsManifest, { backend: 'webgpu', worker: false, variant: 'fp32' });
      expect(model.info.backend).toBe('webgpu');
      const got = (await model.run({ image: { type: 'float32', data: images.slice(0, 64), dims: [1, 1, 8, 8] } }))['logits']!.data as Float32Array;
      expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-4);
      await model.dispose();
      return compiled.length;
    };
    try {
      // A linger no busy machine outlasts: whether the pipelines are kept does not depend on timing.
      setGpuHold(600_000);
      // Whatever earlier files left held goes first, so the first load starts from nothing.
      await releaseGpuHold();
      expect(await loadRunDispose()).toBeGreaterThan(0);
      expect(gpuContextHeld()).toBe(true);
      expect(await loadRunDispose()).toBe(0);
      // Past the linger the context goes, and with it the device's memory ...
      setGpuHold(0);
      await releaseGpuHold();
      expect(gpuContextHeld()).toBe(false);
      // ... so the next load compiles its pipelines again.
      expect(await loadRunDispose()).toBeGreaterThan(0);
    } finally {
      proto.createComputePipeline = originals.sync;
      proto.createComputePipelineAsync = originals.async;
      setGpuHold(SUITE_HOLD_MS);
    }
  });
});

/**
 * In a library worker the context is held as long as the worker lingers: the page sends the worker its
 * linger as the hold (src/worker/client.ts), so a model loaded into a lingering worker, however long
 * after the last, compiles nothing. Counted in the worker by a fixture that serves the real host.
 */
describe.runIf(has('webgpu'))('WebGPU pipelines outlive a session by the linger (worker: true)', () => {
  test("a library worker holds its WebGPU context while it lingers, past onnxruntime's own 2 s: the model loaded again compiles no pipeline and gives the same logits", async () => {
    const { images } = await digitsTestSet();
    const want = reference.logits.slice(0, 10);
    const channel = new BroadcastChannel('ondevice-test-compiled');
    const compiled = () =>
      new Promise<number>((resolve) => {
        channel.onmessage = (event: MessageEvent<number>) => resolve(event.data);
        channel.postMessage('how many?');
      });
    const loadRunDispose = async (): Promise<void> => {
      const model = await loadModel(digitsManifest, { backend: 'webgpu', worker: true, variant: 'fp32' });
      expect(model.info.backend).toBe('webgpu');
      const got = (await model.run({ image: { type: 'float32', data: images.slice(0, 64), dims: [1, 1, 8, 8] } }))['logits']!.data as Float32Array;
      expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-4);
      await model.dispose();
    };
    await quiet();
    try {
      setWorkerLinger(600_000);
      // Lingering workers end now: the next load starts a counting one (a resolving worker, with no
      // runtime, may come first and hand the model over).
      setWorkerFactory((family) =>
        family === 'onnx' ? new Worker(new URL('./fixtures/counting-worker.ts', import.meta.url), { type: 'module' }) : new Worker(new URL('../../src/worker/worker-resolve.ts', import.meta.url), { type: 'module' }),
      );
      await loadRunDispose();
      const first = await compiled();
      expect(first).toBeGreaterThan(0);
      // Past onnxruntime-web's own hold (2 s): without the worker's linger as its hold, the context and
      // its pipelines would be gone by now. (With it, how long this pause lasts does not matter.)
      await new Promise((resolve) => setTimeout(resolve, 3000));
      await loadRunDispose();
      expect((await compiled()) - first).toBe(0);
    } finally {
      channel.close();
      setWorkerFactory(undefined);
      setWorkerLinger(SUITE_HOLD_MS);
    }
  });
});

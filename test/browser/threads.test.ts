/**
 * @file A threaded WASM start that stalls (seen in Firefox in about 1 of 25 starts with 2 threads):
 * bounded, and the library's own worker is replaced by one that runs on one thread, which
 * `info.fallbacks` says. The stall is made certain by a worker of our own (fixtures/stalling-worker.ts).
 */
import { afterEach, expect, inject, test } from 'vitest';
import { loadModel, type TensorMap } from '../../src/index.js';
import { createModelHost } from '../../src/pipeline/host.js';
import { onnxRuntime } from '../../src/runtime/onnx.js';
import type { RuntimeAdapter } from '../../src/runtime/types.js';
import { setWorkerFactory } from '../../src/worker/client.js';
import { digitsManifest, digitsTestSet, expectOndeviceError, maxAbsDiff } from './helpers.js';

const references = inject('variantReferences');

afterEach(() => setWorkerFactory(undefined));

/** The first test-set image's logits against onnxruntime-node's for the fp32 file: the max |Δ|. */
async function firstLogitsDiff(run: (inputs: TensorMap) => Promise<TensorMap>): Promise<number> {
  const { images } = await digitsTestSet();
  const out = await run({ image: { type: 'float32', data: images.slice(0, 64), dims: [1, 1, 8, 8] } });
  return maxAbsDiff(out['logits']!.data as Float32Array, references['fp32']!.logits.slice(0, 10));
}

test("a stalled threaded start in the library's worker: the worker is replaced and the model runs on one thread", async () => {
  const started: Worker[] = [];
  setWorkerFactory(() => {
    const worker = new Worker(new URL('./fixtures/stalling-worker.ts', import.meta.url), { type: 'module' });
    started.push(worker);
    return worker;
  });
  const model = await loadModel(digitsManifest, { backend: 'wasm', variant: 'fp32' });
  expect(model.info.backend).toBe('wasm');
  expect(model.info.fallbacks).toEqual([{ backend: 'wasm', reason: expect.stringMatching(/threads stalled.*one thread/) }]);
  // The first worker was given up and a second one started.
  expect(started.length).toBeGreaterThanOrEqual(2);
  expect(await firstLogitsDiff((inputs) => model.run(inputs))).toBeLessThanOrEqual(1e-4);
  await model.dispose();

  // Later loads on this page ask for one thread at once: no second stall, no third worker.
  const before = started.length;
  const again = await loadModel(digitsManifest, { backend: 'wasm', variant: 'fp32' });
  expect(again.info.fallbacks).toEqual([{ backend: 'wasm', reason: expect.stringMatching(/one thread/) }]);
  expect(started.length).toBeLessThanOrEqual(before + 1);
  await again.dispose();
});

test('in the page (worker: false) a stalled threaded start is BACKEND_UNAVAILABLE with details.threadsStalled, within the bound', async () => {
  const stalling: RuntimeAdapter = {
    backends: onnxRuntime.backends,
    unsupported: (b) => onnxRuntime.unsupported(b),
    create: (files, backend, options) => (options && options.threads > 1 ? new Promise(() => {}) : onnxRuntime.create(files, backend, options)),
  };
  const host = createModelHost({ runtimes: { onnx: stalling }, threads: () => 2, threadedStartMs: 200 });
  const t0 = performance.now();
  const error = await expectOndeviceError(host.load({ url: digitsManifest, backends: ['wasm'], update: 'never', variant: 'fp32', version: undefined, maxCacheBytes: undefined }, {}), 'BACKEND_UNAVAILABLE');
  expect(error.details).toMatchObject({ threadsStalled: true, backend: 'wasm', threads: 2 });
  expect(performance.now() - t0).toBeLessThan(20_000);
  // The same host on one thread starts the same model, and its numbers are onnxruntime-node's.
  const ok = await host.load({ url: digitsManifest, backends: ['wasm'], update: 'never', variant: 'fp32', version: undefined, maxCacheBytes: undefined, threads: 1 }, {});
  expect(ok.kind).toBe('loaded');
  if (ok.kind !== 'loaded') return;
  expect(await firstLogitsDiff((inputs) => host.run(ok.id, inputs) as Promise<TensorMap>)).toBeLessThanOrEqual(1e-4);
  await host.dispose(ok.id);
});

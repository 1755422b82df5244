/**
 * @file `backend: 'fastest'` in real Chromium (WebGPU on SwiftShader, WASM): measured on the first
 * load, remembered per version, variant and device, measured again for a new version, and forgotten
 * when the remembered backend no longer starts (injected at the `Runtimes` interface, which we own).
 */
import { beforeEach, describe, expect, test } from 'vitest';
import { loadModel, modelCache, type Backend, type ModelInfo } from '../../src/index.js';
import { BackendSkipped } from '../../src/backend/select.js';
import { defaultCacheStore } from '../../src/cache/store.js';
import { createModelHost } from '../../src/pipeline/host.js';
import { onnxRuntime } from '../../src/runtime/onnx.js';
import type { RuntimeAdapter } from '../../src/runtime/types.js';
import { usable } from './engine.js';
import { loaded, server } from './helpers.js';
import { LiveHost, eventually, onnxDigits, release } from './live.js';

beforeEach(async () => {
  await modelCache.clear();
});

/**
 * Every backend the engine has was measured, or, on a machine busy enough to use up the tuning
 * budget first, is reported as not measured for that reason: the budget is wall-clock time.
 */
function expectAllMeasuredOrOutOfTime(info: ModelInfo, backends: Backend[]): void {
  const measured = Object.keys(info.tuning!.measured);
  const outOfTime = info.fallbacks.filter((f) => /tuning budget ran out/.test(f.reason)).map((f) => f.backend);
  expect(measured.length).toBeGreaterThan(0);
  expect([...measured, ...outOfTime].sort()).toEqual(usable(backends));
}

function fastestOf(measured: Partial<Record<Backend, number>>): Backend {
  return (Object.entries(measured) as Array<[Backend, number]>).sort((a, b) => a[1] - b[1])[0]![0];
}

describe.each([true, false])('ONNX digits (worker: %s)', (worker) => {
  test('the first load measures WebGPU (where the engine has it) and WASM and runs on the faster; the next load remembers it without measuring', async () => {
    const live = new LiveHost();
    await live.publish(await release('release'));
    const first = await loadModel(live.url, { backend: 'fastest', worker });
    const tuning = first.info.tuning!;
    expect(tuning.fromCache).toBe(false);
    expectAllMeasuredOrOutOfTime(first.info, ['wasm', 'webgpu']);
    for (const ms of Object.values(tuning.measured)) expect(ms).toBeGreaterThan(0);
    expect(first.info.backend).toBe(fastestOf(tuning.measured));
    for (const loser of (Object.keys(tuning.measured) as Backend[]).filter((b) => b !== first.info.backend)) {
      expect(first.info.fallbacks).toContainEqual({ backend: loser, reason: expect.stringMatching(new RegExp(`slower than ${first.info.backend}`)) });
    }
    expect(await onnxDigits.whichRelease(first)).toBe('1.0.0');
    await first.dispose();

    const second = await loadModel(live.url, { backend: 'fastest', worker });
    expect(second.info.tuning).toEqual({ measured: tuning.measured, fromCache: true });
    expect(second.info.backend).toBe(first.info.backend);
    expect(await onnxDigits.whichRelease(second)).toBe('1.0.0');
    await second.dispose();
  });
});

test('a new version is measured again', async () => {
  const live = new LiveHost();
  await live.publish(await release('release'));
  await (await loadModel(live.url, { backend: 'fastest' })).dispose();
  await live.publish(await release('next'));
  const next = await loadModel(live.url, { backend: 'fastest', update: 'blocking' });
  expect(next.info.version).toBe('1.1.0');
  expect(next.info.tuning?.fromCache).toBe(false);
  await next.dispose();
  // Once 1.1.0 has started and 1.0.0 is dropped, only the kept version's choice stays in the record.
  const tunedVersions = async () => Object.keys((await defaultCacheStore().getModel(live.url))?.tuning ?? {}).map((k) => k.split('|')[0]);
  await eventually(async () => (await tunedVersions()).length === 1, 'the old choice to be dropped');
  expect(await tunedVersions()).toEqual(['1.1.0']);
});

test('a remembered backend that no longer starts is forgotten and the backends are measured again', async () => {
  const live = new LiveHost();
  await live.publish(await release('release'));
  const first = await loadModel(live.url, { backend: 'fastest', worker: false });
  const remembered = first.info.backend;
  await first.dispose();
  // The remembered backend fails once (a lost GPU device, say): the next load measures again.
  let failures = 1;
  const flaky: RuntimeAdapter = {
    ...onnxRuntime,
    unsupported: (b) => onnxRuntime.unsupported(b),
    create: (files, backend) => (backend === remembered && failures-- > 0 ? Promise.reject(new BackendSkipped('failed', 'the device was lost')) : onnxRuntime.create(files, backend)),
  };
  const host = createModelHost({ runtimes: { onnx: flaky } });
  const again = loaded(await host.load({ url: live.url, backends: 'fastest', update: 'never', variant: 'auto', version: undefined, maxCacheBytes: undefined }));
  expect(again.info.tuning?.fromCache).toBe(false);
  expectAllMeasuredOrOutOfTime(again.info, ['wasm', 'webgpu']);
  await host.dispose(again.id);
});

test('a TF.js model is measured on WebGPU, WebGL, WASM and CPU (those the engine has)', async () => {
  const model = await loadModel(`${server}/digits-tfjs/layers/manifest.json`, { backend: 'fastest' });
  const measured = model.info.tuning!.measured;
  expectAllMeasuredOrOutOfTime(model.info, ['cpu', 'wasm', 'webgl', 'webgpu']);
  expect(model.info.backend).toBe(fastestOf(measured));
  await model.dispose();
});

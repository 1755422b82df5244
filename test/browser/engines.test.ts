/**
 * @file What differs between engines and must not stop a load: a storage permission prompt nobody
 * answers, a missing `navigator.storage`, a timeout signal. Runs in every engine; the expectations
 * per engine are in engine.ts.
 */
import { describe, expect, test } from 'vitest';
import { SMALL_FILE } from '../../src/cache/store.js';
import { loadModel, modelCache } from '../../src/index.js';
import { engine, expected } from './engine.js';
import { digitsManifestFile, expectOndeviceError, quiet, server } from './helpers.js';
import { LiveHost, release } from './live.js';

describe('storage that is missing or asks the user', () => {
  test("persist: true never holds the load up (Firefox's permission prompt stays open here)", async () => {
    const live = new LiveHost();
    await live.publish(await release('release'));
    const model = await loadModel(live.url, { backend: 'wasm', persist: true });
    expect(model.info.version).toBe('1.0.0');
    await model.dispose();
  }, 20_000);

  test(`usage() reports what the engine offers (${engine}: estimate ${expected.storageEstimate ? 'present' : 'missing'}, bytes in ${expected.opfs ? 'OPFS' : 'IndexedDB'})`, async () => {
    const live = new LiveHost();
    const manifest = await release('release');
    await live.publish(manifest);
    await (await loadModel(live.url, { backend: 'wasm' })).dispose();
    const usage = await modelCache.usage();
    expect(usage.bytes).toBeGreaterThan(0);
    // Where OPFS refuses (WebKit's ephemeral sessions, private modes) the bytes go to IndexedDB, and the load works all the same.
    expect(usage.store).toBe(expected.opfs ? 'opfs' : 'indexeddb');
    // The digits files are all under SMALL_FILE: IndexedDB keeps them in every engine.
    expect(Object.values(manifest.variants).flatMap((v) => v.files).every((f) => f.size <= SMALL_FILE)).toBe(true);
    expect(usage.storeBytes).toEqual({ opfs: 0, indexeddb: usage.bytes, disk: 0 });
    if (expected.storageEstimate) {
      expect(usage.originQuota).toBeGreaterThan(0);
      expect(typeof usage.persisted).toBe('boolean');
    } else {
      expect(usage).toMatchObject({ originUsage: null, originQuota: null, persisted: null });
    }
  });
});

describe.each([true, false])('a timeout signal (worker: %s)', (worker) => {
  test('AbortSignal.timeout is ABORTED with reason "timeout"; a plain abort says "abort"', async () => {
    const file = (await digitsManifestFile()).slice(server.length + 1);
    // The host sends 20 kB and holds the rest until the client goes: only the signal can end the load.
    const slow = `${server}/held/${file}?after=20000`;
    await quiet();
    await modelCache.clear();
    const timedOut = await expectOndeviceError(loadModel(slow, { backend: 'wasm', worker, signal: AbortSignal.timeout(400) }), 'ABORTED');
    expect(timedOut.details).toEqual({ reason: 'timeout' });
    expect(timedOut.message).toMatch(/timed out/);
    const controller = new AbortController();
    const aborted = loadModel(slow, { backend: 'wasm', worker, signal: controller.signal });
    setTimeout(() => controller.abort(), 400);
    expect((await expectOndeviceError(aborted, 'ABORTED')).details).toEqual({ reason: 'abort' });
  });
});

/**
 * @file The versioned cache in real Chromium against a live host on 127.0.0.1 whose requests are
 * counted: zero model bytes on a revisit, background updates, integrity, offline, revocation, ranges,
 * many contexts at once.
 */
import { beforeEach, describe, expect, test } from 'vitest';
import { loadModel as loadAnywhere, modelCache, type LoadOptions, type UpdateInfo } from '../../src/index.js';
import { withLocks, type LockManagerLike } from '../../src/cache/locks.js';
import { SMALL_FILE, defaultCacheStore } from '../../src/cache/store.js';
import { createModelHost } from '../../src/pipeline/host.js';
import { allRuntimes } from '../../src/runtime/all.js';
import { expected } from './engine.js';
import { expectOndeviceError, loaded, quiet } from './helpers.js';
import { alterStored, dropStoredBytes, storedBytes, stores } from './stores.js';
import { LiveHost, bytesOf, eventually, fileOf, onnxDigits, release, tfjsDigits } from './live.js';

const whichRelease = onnxDigits.whichRelease;

function newWorker(): Worker {
  return new Worker(new URL('../../src/worker/worker.ts', import.meta.url), { type: 'module' });
}

beforeEach(async () => {
  await quiet();
  await modelCache.clear();
});

/** Loads with the engine's default store (OPFS where it works). */
const loadModel = (url: string, options: LoadOptions = {}) => loadAnywhere(url, options);

/**
 * The versioned cache's rules hold whatever the store holding the bytes (OPFS, IndexedDB) and the
 * runtime: each test runs for both stores (where the engine has OPFS), the ONNX and the TF.js model.
 */
describe.each(stores)('bytes in %s', (storage) => {
  const loadModel = (url: string, options: LoadOptions = {}) => loadAnywhere(url, { storage, ...options });

  test('the files of a load go to the store asked for, and a revisit reads them from there', async () => {
    const host = new LiveHost();
    const v1 = await onnxDigits.release('release');
    await host.publish(v1);
    await (await loadModel(host.url, { backend: 'wasm' })).dispose();
    const file = v1.variants.fp32.files[0]!;
    const usage = await modelCache.usage();
    expect(usage.storeBytes).toEqual({ opfs: storage === 'opfs' ? file.size : 0, indexeddb: storage === 'indexeddb' ? file.size : 0, disk: 0 });
    const held = await storedBytes();
    expect(held.opfs[file.sha256] ?? null).toBe(storage === 'opfs' ? file.size : null);
    expect(held.chunks.filter((k) => k.startsWith(`${file.sha256}/`))).toHaveLength(storage === 'indexeddb' ? 1 : 0);
    // Another preference reads the file where it is, with no download.
    const other = await loadAnywhere(host.url, { backend: 'wasm', storage: storage === 'opfs' ? 'indexeddb' : 'auto' });
    expect(other.info.fromCache).toBe(true);
    expect(await onnxDigits.whichRelease(other)).toBe('1.0.0');
    await other.dispose();
    expect(await host.count(fileOf(v1))).toBe(1);
  });

  describe.each([onnxDigits, tfjsDigits])('$label', (subject) => {
    describe.each([true, false])('cache (worker: %s)', (worker) => {
      test('first load downloads each file once; a revisit downloads no model bytes and asks once, cheaply', async () => {
        const host = new LiveHost();
        const v1 = await subject.release('release');
        await host.publish(v1);
        const first = await loadModel(host.url, { backend: 'wasm', worker });
        expect(first.info).toMatchObject({ version: '1.0.0', fromCache: false });
        await first.dispose();
        expect(await host.count(fileOf(v1))).toBe(1);
        expect(await host.count('manifest.json')).toBe(1);

        const second = await loadModel(host.url, { backend: 'wasm', worker });
        expect(second.info).toMatchObject({ version: '1.0.0', fromCache: true });
        expect(await subject.whichRelease(second)).toBe('1.0.0');
        // The background check: one conditional request, answered 304 (where the engine's HTTP cache keeps the ETag).
        await eventually(async () => (await host.count('manifest.json')) === 2, 'the background check');
        const manifests = (await host.requests()).filter((r) => r.path.endsWith('/manifest.json'));
        expect(manifests.map((r) => r.status)).toEqual([200, expected.httpRevalidation ? 304 : 200]);
        expect(await host.count(fileOf(v1))).toBe(1);
        await second.dispose();
      });

      test('publishing 1.1.0: a background load starts 1.0.0 at once, onUpdate fires, reload and the next load run 1.1.0, and 1.0.0 is collected', async () => {
        const host = new LiveHost();
        const [v1, v2] = [await subject.release('release'), await subject.release('next')];
        await host.publish(v1);
        await (await loadModel(host.url, { backend: 'wasm', worker })).dispose();
        await host.publish(v2);

        const updates: UpdateInfo[] = [];
        const model = await loadModel(host.url, { backend: 'wasm', worker, onUpdate: (u) => updates.push(u) });
        expect(model.info).toMatchObject({ version: '1.0.0', fromCache: true });
        await eventually(() => updates.length > 0, 'onUpdate');
        expect(updates).toEqual([{ version: '1.1.0', previousVersion: '1.0.0', revoked: false }]);
        // Never swapped under the app.
        expect(model.info.version).toBe('1.0.0');
        expect(await subject.whichRelease(model)).toBe('1.0.0');
        await model.reload();
        expect(model.info.version).toBe('1.1.0');
        expect(await subject.whichRelease(model)).toBe('1.1.0');
        await model.dispose();

        const next = await loadModel(host.url, { backend: 'wasm', worker });
        expect(next.info).toMatchObject({ version: '1.1.0', fromCache: true });
        expect(await subject.whichRelease(next)).toBe('1.1.0');
        expect(await host.count(fileOf(v2))).toBe(1);
        const size = bytesOf(v2);
        await eventually(async () => (await modelCache.usage()).bytes === size, "1.0.0's file to be collected");
        const [entry] = await modelCache.list();
        expect(entry).toMatchObject({ name: subject.name, manifestUrl: host.url, versions: ['1.1.0'], activeVersion: '1.1.0', bytes: size });
        await next.dispose();
      });
    });

    test('a load that asked the host makes no second, background request, even when its files were cached by hash', async () => {
      const [a, b] = [new LiveHost(), new LiveHost()];
      const v1 = await subject.release('release');
      await a.publish(v1);
      await b.publish(v1);
      await (await loadModel(a.url, { backend: 'wasm' })).dispose();
      const host = createModelHost({ runtimes: allRuntimes });
      const model = loaded(await host.load({ url: b.url, backends: ['wasm'], update: 'background', variant: 'auto', version: undefined, maxCacheBytes: undefined, storage }));
      expect(model.info.fromCache).toBe(true);
      // A background check would start as the load resolves; once the host is idle, it would have asked.
      await host.idle();
      expect(await b.count('manifest.json')).toBe(1);
      expect(await b.count(fileOf(v1))).toBe(0);
      await host.dispose(model.id);
    });

    describe('integrity', () => {
      test('a host serving wrong bytes for a new version: INTEGRITY_MISMATCH, nothing activates, a blocking load starts the old version and says why', async () => {
        const host = new LiveHost();
        const [v1, v2] = [await subject.release('release'), await subject.release('next')];
        await host.publish(v1);
        await (await loadModel(host.url, { backend: 'wasm' })).dispose();
        await host.publish(v2);
        // The last file: same size in both releases, so only its hash tells them apart.
        const [wrong, served] = [v2.variants.fp32.files.at(-1)!, v1.variants.fp32.files.at(-1)!];
        await host.swap({ [wrong.path]: served.path });

        const model = await loadModel(host.url, { backend: 'wasm', update: 'never' });
        const error = await expectOndeviceError(model.checkForUpdate(), 'INTEGRITY_MISMATCH');
        expect(error.details).toMatchObject({ url: `${host.base}${wrong.path}`, expected: wrong.sha256, actual: served.sha256 });
        await model.dispose();
        expect((await modelCache.list())[0]).toMatchObject({ activeVersion: '1.0.0' });
        const again = await loadModel(host.url, { backend: 'wasm', update: 'blocking' });
        expect(await subject.whichRelease(again)).toBe('1.0.0');
        expect(again.lastUpdateError).toMatchObject({ code: 'INTEGRITY_MISMATCH', details: { expected: wrong.sha256 } });
        await again.dispose();
        const old = await loadModel(host.url, { backend: 'wasm', update: 'never' });
        expect(await subject.whichRelease(old)).toBe('1.0.0');
        await old.dispose();
      });

      test('a file altered in storage is detected and healed by downloading the file again', async () => {
        const host = new LiveHost();
        const v1 = await subject.release('release');
        await host.publish(v1);
        await (await loadModel(host.url, { backend: 'wasm' })).dispose();
        await alterStored(v1.variants.fp32.files[0]!.sha256);

        const model = await loadModel(host.url, { backend: 'wasm' });
        expect(model.info.fromCache).toBe(false);
        expect(await subject.whichRelease(model)).toBe('1.0.0');
        expect(await host.count(fileOf(v1))).toBe(2);
        await model.dispose();
        const healed = await loadModel(host.url, { backend: 'wasm' });
        expect(healed.info.fromCache).toBe(true);
        await healed.dispose();
      });
    });

    describe('offline', () => {
      test.each(['background', 'blocking'] as const)('a cached model loads under %s with the host down', async (update) => {
        const host = new LiveHost();
        await host.publish(await subject.release('release'));
        await (await loadModel(host.url, { backend: 'wasm' })).dispose();
        await host.down(true);
        const model = await loadModel(host.url, { backend: 'wasm', update });
        expect(model.info).toMatchObject({ version: '1.0.0', fromCache: true });
        expect(await subject.whichRelease(model)).toBe('1.0.0');
        await model.dispose();
      });

      test('with nothing cached and the host down, a clear error', async () => {
        const host = new LiveHost();
        await host.publish(await subject.release('release'));
        await host.down(true);
        const error = await expectOndeviceError(loadModel(host.url, { backend: 'wasm' }), 'DOWNLOAD_FAILED');
        expect(error.message).toMatch(/Could not reach .*manifest\.json/);
      });
    });

    describe('revoked versions and ranges', () => {
      test('a revoked version is not run from the cache, even offline', async () => {
        const host = new LiveHost();
        const [v1, v2] = [await subject.release('release'), await subject.release('next')];
        await host.publish(v1);
        await (await loadModel(host.url, { backend: 'wasm' })).dispose();
        await host.publish({ ...v2, revoked: ['1.0.0'] });

        const updates: UpdateInfo[] = [];
        const model = await loadModel(host.url, { backend: 'wasm', onUpdate: (u) => updates.push(u) });
        // Background: the cached start comes first; the check then says the running version is revoked.
        expect(model.info.version).toBe('1.0.0');
        await eventually(() => updates.length > 0, 'onUpdate');
        expect(updates[0]).toEqual({ version: '1.1.0', previousVersion: '1.0.0', revoked: true });
        await model.dispose();

        await host.down(true);
        const offline = await loadModel(host.url, { backend: 'wasm', update: 'never' });
        expect(offline.info.version).toBe('1.1.0');
        expect(await subject.whichRelease(offline)).toBe('1.1.0');
        await offline.dispose();
        expect((await modelCache.list())[0]?.versions).toEqual(['1.1.0']);
      });

      test('a host whose only version is revoked, with nothing else cached: VERSION_UNAVAILABLE', async () => {
        const host = new LiveHost();
        await host.publish({ ...(await subject.release('release')), revoked: ['1.0.0'] });
        await expectOndeviceError(loadModel(host.url, { backend: 'wasm' }), 'VERSION_UNAVAILABLE');
        expect(await modelCache.list()).toEqual([expect.objectContaining({ activeVersion: null, versions: [] })]);
      });

      test('a version outside the range is never activated; the cached one in range keeps running', async () => {
        const host = new LiveHost();
        const [v1, v2] = [await subject.release('release'), await subject.release('next')];
        await host.publish(v2);
        const error = await expectOndeviceError(loadModel(host.url, { backend: 'wasm', version: '~1.0.0' }), 'VERSION_UNAVAILABLE');
        expect(error.message).toMatch(/1\.1\.0 .* is outside the accepted range "~1\.0\.0"/);
        expect(await host.count(fileOf(v2))).toBe(0);

        await host.publish(v1);
        await (await loadModel(host.url, { backend: 'wasm', version: '~1.0.0' })).dispose();
        await host.publish(v2);
        const model = await loadModel(host.url, { backend: 'wasm', version: '~1.0.0', update: 'blocking' });
        expect(model.info.version).toBe('1.0.0');
        expect(await model.checkForUpdate()).toEqual({ available: false, revoked: false });
        expect(await host.count(fileOf(v2))).toBe(0);
        await model.dispose();
        await expectOndeviceError(loadModel(host.url, { version: 'not a range' }), 'INPUT_INVALID');
      });
    });

    describe('a stale manifest', () => {
      test('naming an older version than the cached one does not move the device back', async () => {
        const host = new LiveHost();
        const [v1, v2] = [await subject.release('release'), await subject.release('next')];
        await host.publish(v2);
        await (await loadModel(host.url, { backend: 'wasm' })).dispose();
        await host.publish(v1);
        const model = await loadModel(host.url, { backend: 'wasm', update: 'blocking' });
        expect(model.info.version).toBe('1.1.0');
        expect(await subject.whichRelease(model)).toBe('1.1.0');
        expect(await host.count(fileOf(v1))).toBe(0);
        await model.dispose();
      });
    });

    describe('many contexts', () => {
      test('two workers loading the same model at once fetch each file once in total', async () => {
        const host = new LiveHost();
        const v1 = await subject.release('release');
        await host.publish(v1);
        const [a, b] = [newWorker(), newWorker()];
        const models = await Promise.all([loadModel(host.url, { backend: 'wasm', worker: a }), loadModel(host.url, { backend: 'wasm', worker: b })]);
        expect(await host.count(fileOf(v1))).toBe(1);
        expect(models.map((m) => m.info.fromCache).sort()).toEqual([false, true]);
        for (const m of models) expect(await subject.whichRelease(m)).toBe('1.0.0');
        await Promise.all(models.map((m) => m.dispose()));
        a.terminate();
        b.terminate();
      });

      test('three contexts warm-loading the same cached model at once all read it, with no download', async () => {
        const host = new LiveHost();
        const v1 = await subject.release('release');
        await host.publish(v1);
        await (await loadModel(host.url, { backend: 'wasm' })).dispose();
        // Two workers and the page read the same files at once (Firefox opens each OPFS sync handle exclusive).
        const [a, b] = [newWorker(), newWorker()];
        const models = await Promise.all([a, b, false as const].map((worker) => loadModel(host.url, { backend: 'wasm', worker, update: 'never' })));
        expect(models.map((m) => m.info.fromCache)).toEqual([true, true, true]);
        for (const m of models) expect(await subject.whichRelease(m)).toBe('1.0.0');
        expect(await host.count(fileOf(v1))).toBe(1);
        await Promise.all(models.map((m) => m.dispose()));
        a.terminate();
        b.terminate();
      });

      test('an update activated in one context is heard in another', async () => {
        const host = new LiveHost();
        await host.publish(await subject.release('release'));
        const [a, b] = [newWorker(), newWorker()];
        const updates: UpdateInfo[] = [];
        const listening = await loadModel(host.url, { backend: 'wasm', worker: a, update: 'never', onUpdate: (u) => updates.push(u) });
        const checking = await loadModel(host.url, { backend: 'wasm', worker: b, update: 'never' });
        await host.publish(await subject.release('next'));
        expect(await checking.checkForUpdate()).toEqual({ available: true, version: '1.1.0', revoked: false });
        await eventually(() => updates.length > 0, 'the other context to hear of it');
        expect(updates).toEqual([{ version: '1.1.0', previousVersion: '1.0.0', revoked: false }]);
        await Promise.all([listening.dispose(), checking.dispose()]);
        a.terminate();
        b.terminate();
      });
    });
  });

});

describe("where 'auto' keeps a file's bytes", () => {
  test(`a file of up to 1 MiB in IndexedDB (one read, no OPFS handle to open), a bigger one in ${expected.opfs ? 'OPFS' : 'IndexedDB (no OPFS here)'}`, async () => {
    const store = defaultCacheStore('auto');
    const small = Uint8Array.from({ length: SMALL_FILE }, (_, i) => i % 251);
    const big = Uint8Array.from({ length: SMALL_FILE + 1 }, (_, i) => i % 241);
    const [smallSha, bigSha] = ['5'.repeat(64), 'b'.repeat(64)];
    await store.writeFile(smallSha, small);
    await store.writeFile(bigSha, big);
    const [smallRecord, bigRecord] = [await store.getFile(smallSha), await store.getFile(bigSha)];
    expect(smallRecord?.store ?? 'indexeddb').toBe('indexeddb');
    expect(bigRecord?.store ?? 'indexeddb').toBe(expected.opfs ? 'opfs' : 'indexeddb');
    const held = await storedBytes();
    expect(held.chunks).toContain(`${smallSha}/0`);
    expect(held.opfs[smallSha]).toBeUndefined();
    expect(held.opfs[bigSha] ?? null).toBe(expected.opfs ? big.length : null);
    expect(await store.readFile(smallRecord!)).toEqual(small);
    expect(await store.readFile(bigRecord!)).toEqual(big);
    // An app that asks for OPFS by name gets it for every file.
    const opfsOnly = defaultCacheStore('opfs');
    await opfsOnly.deleteFile(smallSha);
    if (expected.opfs) {
      await opfsOnly.writeFile(smallSha, small);
      expect((await opfsOnly.getFile(smallSha))?.store).toBe('opfs');
    }
  });

  test('small files are read together (records in one transaction, IndexedDB bytes in another): a missing record or lost bytes is a miss, bytes kept elsewhere come back as their record alone', async () => {
    const store = defaultCacheStore('auto');
    const files = [1, 2, 3].map((n) => ({ sha256: String(n).repeat(64), bytes: Uint8Array.from({ length: 1000 * n }, (_, i) => (i * n) % 256) }));
    for (const f of files) await store.writeFile(f.sha256, f.bytes);
    await dropStoredBytes(files[1]!.sha256);
    const elsewhere = 'e'.repeat(64);
    if (expected.opfs) await defaultCacheStore('opfs').writeFile(elsewhere, files[0]!.bytes);
    const got = await store.readSmallFiles!([files[0]!.sha256, files[1]!.sha256, 'f'.repeat(64), files[2]!.sha256, ...(expected.opfs ? [elsewhere] : [])]);
    expect(got[0]).toEqual({ record: await store.getFile(files[0]!.sha256), bytes: files[0]!.bytes });
    // Its record is there, its bytes are not.
    expect(await store.getFile(files[1]!.sha256)).toBeDefined();
    expect(got[1]).toBeUndefined();
    expect(got[2]).toBeUndefined();
    expect(got[3]).toEqual({ record: await store.getFile(files[2]!.sha256), bytes: files[2]!.bytes });
    if (expected.opfs) expect(got[4]).toEqual({ record: await store.getFile(elsewhere) });
    expect(got).toHaveLength(expected.opfs ? 5 : 4);
  });
});

describe('the locks a read of several files takes', () => {
  const held = async () => ((await navigator.locks.query()).held ?? []).map((l) => `${l.name} ${l.mode}`).filter((n) => n.startsWith('ondevice:t-')).sort();
  const pending = async () => ((await navigator.locks.query()).pending ?? []).map((l) => `${l.name} ${l.mode}`).filter((n) => n.startsWith('ondevice:t-')).sort();
  /** Holds `name` exclusive until the returned release is called. */
  const holdExclusive = async (name: string) => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    await new Promise<void>((granted) => void navigator.locks.request(`ondevice:${name}`, () => (granted(), released)));
    return release;
  };
  const until = async (check: () => Promise<boolean>) => {
    while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  const holder = { locks: navigator.locks as unknown as LockManagerLike };

  test('every file\'s lock is held shared while the task runs, and let go after', async () => {
    const during = await withLocks(holder, ['t-c', 't-a', 't-b'], undefined, held, 'shared');
    expect(during).toEqual(['ondevice:t-a shared', 'ondevice:t-b shared', 'ondevice:t-c shared']);
    expect(await held()).toEqual([]);
  });

  test('a file held exclusive (a download): the read waits for it, then runs holding every lock', async () => {
    const release = await holdExclusive('t-b');
    let ran = false;
    const reading = withLocks(holder, ['t-a', 't-b'], undefined, async () => ((ran = true), held()), 'shared');
    // Taken in order: t-a held, t-b asked for (not before the exclusive holder lets it go).
    await until(async () => (await pending()).includes('ondevice:t-b shared'));
    expect(ran).toBe(false);
    expect(await held()).toEqual(['ondevice:t-a shared', 'ondevice:t-b exclusive']);
    release();
    expect(await reading).toEqual(['ondevice:t-a shared', 'ondevice:t-b shared']);
  });

  test('no deadlock with a writer that holds one file exclusive and then asks for the next', async () => {
    // The writer (a version's download) takes t-a, then t-b, in order; the read starts between the two.
    let takeNext!: () => void;
    const next = new Promise<void>((resolve) => (takeNext = resolve));
    let writerHeld: string[] = [];
    const writing = navigator.locks.request('ondevice:t-a', async () => {
      await next;
      await navigator.locks.request('ondevice:t-b', async () => {
        writerHeld = await held();
      });
    });
    await until(async () => (await held()).includes('ondevice:t-a exclusive'));
    const reading = withLocks(holder, ['t-a', 't-b'], undefined, held, 'shared');
    await until(async () => (await pending()).includes('ondevice:t-a shared'));
    takeNext();
    await writing;
    expect(writerHeld).toContain('ondevice:t-b exclusive');
    expect(await reading).toEqual(['ondevice:t-a shared', 'ondevice:t-b shared']);
  });
});

describe('a release that changes runtime', () => {
  test.each([true, false])('TF.js 1.0.0 → ONNX 1.1.0 (background policy, worker: %s): downloaded by the update check, onUpdate fires, reload and the next load run ONNX', async (worker) => {
    const host = new LiveHost();
    const v1 = await tfjsDigits.release('release');
    const v2 = { ...(await onnxDigits.release('next')), name: v1['name'] };
    await host.publish(v1);
    await (await loadModel(host.url, { backend: 'wasm', worker })).dispose();
    await host.publish(v2);

    const updates: UpdateInfo[] = [];
    const model = await loadModel(host.url, { backend: 'wasm', worker, onUpdate: (u) => updates.push(u) });
    expect(model.info).toMatchObject({ runtime: 'tfjs-layers', version: '1.0.0', fromCache: true });
    await eventually(() => updates.length > 0, 'onUpdate');
    expect(updates).toEqual([{ version: '1.1.0', previousVersion: '1.0.0', revoked: false }]);
    await model.reload();
    expect(model.info).toMatchObject({ runtime: 'onnx', version: '1.1.0' });
    expect(await onnxDigits.whichRelease(model)).toBe('1.1.0');
    await model.dispose();

    const next = await loadModel(host.url, { backend: 'wasm', worker });
    expect(next.info).toMatchObject({ runtime: 'onnx', version: '1.1.0', fromCache: true });
    expect(await host.count(fileOf(v2))).toBe(1);
    await next.dispose();
  });
});

describe('a bare model URL', () => {
  test('is cached, versioned by its ETag, and revalidated with one conditional request', async () => {
    const host = new LiveHost();
    const v1 = await release('release');
    const url = `${host.base}${fileOf(v1)}`;
    const first = await loadModel(url, { backend: 'wasm' });
    expect(first.info).toMatchObject({ fromCache: false, variant: null });
    await first.dispose();
    const second = await loadModel(url, { backend: 'wasm' });
    expect(second.info).toMatchObject({ fromCache: true, version: first.info.version });
    expect(await whichRelease(second)).toBe('1.0.0');
    const gets = async () => (await host.requests()).filter((r) => r.method === 'GET');
    await eventually(async () => (await gets()).length === 2, 'the background revalidation');
    // (Cross-origin, the If-None-Match header also costs a CORS preflight; a manifest's check does not.)
    expect((await gets()).map((r) => [r.status, r.bytes < 1000])).toEqual([
      [200, false],
      [304, true],
    ]);
    await second.dispose();
  });
});

describe('modelCache', () => {
  test('lists, removes and measures what the device holds', async () => {
    const [a, b] = [new LiveHost(), new LiveHost()];
    const [v1, v2] = [await release('release'), await release('next')];
    await a.publish(v1);
    await b.publish(v2);
    await (await loadModel(a.url, { backend: 'wasm', persist: true })).dispose();
    await (await loadModel(b.url, { backend: 'wasm' })).dispose();
    const sizes = [v1, v2].map((m) => m.variants.fp32.files[0]!.size);

    const list = await modelCache.list();
    expect(list.map((m) => [m.manifestUrl, m.activeVersion, m.bytes]).sort()).toEqual([
      [a.url, '1.0.0', sizes[0]],
      [b.url, '1.1.0', sizes[1]],
    ].sort());
    expect(list.every((m) => typeof m.lastChecked === 'number')).toBe(true);
    const usage = await modelCache.usage();
    expect(usage).toMatchObject({ bytes: sizes[0]! + sizes[1]!, models: 2 });
    // Where the engine has no navigator.storage (WebKitGTK as shipped) it is null: see engines.test.ts.
    expect(typeof usage.persisted).toBe(expected.storageEstimate ? 'boolean' : 'object');

    await modelCache.remove(a.url);
    expect((await modelCache.list()).map((m) => m.manifestUrl)).toEqual([b.url]);
    expect((await modelCache.usage()).bytes).toBe(sizes[1]);
    await modelCache.clear();
    expect(await modelCache.usage()).toMatchObject({ bytes: 0, models: 0 });
  });
});

/**
 * @file The defects a review found (issue 11), each shown by a test that failed before its fix: in
 * real Chromium, against the live test host and the fault proxy. Where a failure must be injected
 * inside the library (a backend that fails for lack of memory, a storage read held mid-way), it is
 * injected at an interface the library owns (`Runtimes`, `CacheStore`).
 */
import { beforeEach, describe, expect, inject, test } from 'vitest';
import { loadModel, modelCache, type UpdateInfo } from '../../src/index.js';
import { BackendSkipped } from '../../src/backend/select.js';
import { defaultCacheStore, type CacheStore } from '../../src/cache/store.js';
import { createModelHost } from '../../src/pipeline/host.js';
import { allRuntimes } from '../../src/runtime/all.js';
import { onnxRuntime } from '../../src/runtime/onnx.js';
import type { RuntimeAdapter, RuntimeSession } from '../../src/runtime/types.js';
import { expectOndeviceError, loaded, server } from './helpers.js';
import { expected } from './engine.js';
import { storedBytes } from './stores.js';
import { LiveHost, eventually, fileOf, onnxDigits, release, type ManifestJson } from './live.js';

const proxy = inject('faultProxy');
// No retries, so a refused download fails at once. No test here injects a stall: the stall bound is
// long, or a healthy download that a busy machine leaves quiet for a moment would fail the load.
const fast = { retries: 0, baseDelayMs: 1, maxDelayMs: 1, stallTimeoutMs: 30_000 };
const request = (url: string, update: 'blocking' | 'never' | 'background' = 'blocking') => ({ url, backends: ['wasm' as const], update, variant: 'fp32', version: undefined, maxCacheBytes: undefined });

async function faults(rules: Array<Record<string, unknown>>): Promise<void> {
  await fetch(`${proxy}/__faults`, { method: 'PUT', body: JSON.stringify(rules) });
}

async function sha256(bytes: Uint8Array): Promise<string> {
  return Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A release whose only file is `bytes` served as `name` (with the right size and hash: only its contents are wrong). */
async function releaseOf(version: string, name: string): Promise<ManifestJson> {
  const bytes = new Uint8Array(await (await fetch(`${server}/live/any/${name}`)).arrayBuffer());
  const base = await release('release');
  return { ...base, version, variants: { fp32: { files: [{ path: name, size: bytes.length, sha256: await sha256(bytes) }] } } };
}

/** The ONNX adapter, with `create` failing as told first: the seam where a device runs out of memory. */
function flaky(fail: () => Error | undefined): { adapter: RuntimeAdapter; sessions: Array<{ releases: number }> } {
  const sessions: Array<{ releases: number }> = [];
  const adapter: RuntimeAdapter = {
    backends: onnxRuntime.backends,
    unsupported: (b) => onnxRuntime.unsupported(b),
    async create(files, backend) {
      const error = fail();
      if (error) throw error;
      const session = await onnxRuntime.create(files, backend);
      const count = { releases: 0 };
      sessions.push(count);
      const counted: RuntimeSession = {
        inputs: session.inputs,
        outputs: session.outputs,
        run: (inputs) => session.run(inputs),
        release: async () => {
          count.releases++;
          if (count.releases === 1) await session.release();
        },
      };
      return counted;
    },
  };
  return { adapter, sessions };
}

beforeEach(async () => {
  await faults([]);
  await modelCache.clear();
});

describe('1. a failed start bans a version only when its bytes are at fault and a previous version can run', () => {
  test('every backend failing (out of memory) fails this load with BACKEND_UNAVAILABLE and leaves the version loadable', async () => {
    const live = new LiveHost();
    const v1 = await release('release');
    await live.publish(v1);
    let failures = 1;
    const { adapter } = flaky(() => (failures-- > 0 ? new BackendSkipped('failed', 'creating the session failed: out of memory') : undefined));
    const host = createModelHost({ runtimes: { onnx: adapter } });
    const error = await expectOndeviceError(host.load(request(live.url)), 'BACKEND_UNAVAILABLE');
    expect(error.message).toMatch(/out of memory/);
    // The transient condition has passed: the same version starts, from the cache, with no new download.
    const model = await loadModel(live.url, { backend: 'wasm', update: 'never' });
    expect(model.info).toMatchObject({ version: '1.0.0', fromCache: true });
    expect(await onnxDigits.whichRelease(model)).toBe('1.0.0');
    await model.dispose();
    expect(await live.count(fileOf(v1))).toBe(1);
  });

  test('bytes no runtime accepts, with no previous version: MODEL_INVALID, and the version is not banned', async () => {
    const live = new LiveHost();
    await live.publish(await releaseOf('1.0.0', 'test-set.bin'));
    await expectOndeviceError(loadModel(live.url, { backend: 'wasm' }), 'MODEL_INVALID');
    // Asked again, the device tries again (and fails the same way) instead of answering VERSION_UNAVAILABLE for ever.
    await expectOndeviceError(loadModel(live.url, { backend: 'wasm', update: 'blocking' }), 'MODEL_INVALID');
  });

  test('bytes no runtime accepts in a new version: the previous one runs, the new one is banned here, and the app is told why', async () => {
    const live = new LiveHost();
    await live.publish(await release('release'));
    await (await loadModel(live.url, { backend: 'wasm' })).dispose();
    await live.publish(await releaseOf('1.1.0', 'test-set.bin'));
    const model = await loadModel(live.url, { backend: 'wasm', update: 'blocking' });
    expect(await onnxDigits.whichRelease(model)).toBe('1.0.0');
    expect(model.lastUpdateError?.code).toBe('MODEL_INVALID');
    await model.dispose();
    const again = await loadModel(live.url, { backend: 'wasm', update: 'blocking' });
    expect(again.info.version).toBe('1.0.0');
    await again.dispose();
    expect(await live.count('test-set.bin')).toBe(1);
  });

  test('hardening II: a ban is this device\'s, apart from the publisher\'s revocations, and an upgraded runtime tries the version again', async () => {
    const live = new LiveHost();
    await live.publish(await release('release'));
    await (await loadModel(live.url, { backend: 'wasm' })).dispose();
    await live.publish(await releaseOf('1.1.0', 'test-set.bin'));
    await (await loadModel(live.url, { backend: 'wasm', update: 'blocking' })).dispose();
    const store = defaultCacheStore();
    const record = await store.getModel(live.url);
    expect(record?.revoked).toEqual([]);
    expect(record?.banned).toEqual([{ version: '1.1.0', runtime: expect.stringMatching(/^onnxruntime-web \d+\.\d+/) }]);
    // As if the ban had been made by an older onnxruntime-web: the next run (1.0.0, on this one) lifts it…
    await store.updateModel(live.url, (r) => r && { ...r, banned: [{ version: '1.1.0', runtime: 'onnxruntime-web 0.0.1' }] });
    await (await loadModel(live.url, { backend: 'wasm', update: 'never' })).dispose();
    await eventually(async () => (await store.getModel(live.url))?.banned === undefined, 'the old ban to be lifted');
    // …and the one after tries 1.1.0 again, fails, and bans it under this runtime.
    const retried = await loadModel(live.url, { backend: 'wasm', update: 'never' });
    expect(retried.lastUpdateError?.code).toBe('MODEL_INVALID');
    expect(retried.info.version).toBe('1.0.0');
    await retried.dispose();
    expect((await store.getModel(live.url))?.banned).toEqual([{ version: '1.1.0', runtime: expect.stringMatching(/^onnxruntime-web \d/) }]);
  });

  test('hardening II: a model no runtime here runs (bfloat16 arithmetic) is MODEL_INVALID with the runtime\'s reason, not BACKEND_UNAVAILABLE', async () => {
    const error = await expectOndeviceError(loadModel(`${server}/unsupported/bfloat16-add.onnx`, { backend: 'wasm' }), 'MODEL_INVALID');
    expect(error.message).toMatch(/onnxruntime-web cannot load this model/);
    expect(error.details['runtimeVersion']).toMatch(/^onnxruntime-web \d/);
  });
});

describe('3. garbage collection never takes bytes a reader in another context is reading', () => {
  test('a warm load whose read is under way when another tab drops the model still starts from its bytes', async () => {
    const live = new LiveHost();
    const v1 = await release('release');
    await live.publish(v1);
    await (await loadModel(live.url, { backend: 'wasm' })).dispose();
    const real = defaultCacheStore();
    let reading!: () => void;
    const started = new Promise<void>((resolve) => (reading = resolve));
    let proceed!: () => void;
    const gate = new Promise<void>((resolve) => (proceed = resolve));
    // The storage interface is ours: this one pauses inside the read, as a slow disk would.
    const store: CacheStore = {
      ...real,
      async readFile(file) {
        reading();
        await gate;
        return real.readFile(file);
      },
    };
    const host = createModelHost({ runtimes: allRuntimes, store: () => store });
    const loading = host.load(request(live.url, 'never'));
    await started;
    // Meanwhile another tab removes the model: its files are no longer referenced and are collected.
    await modelCache.remove(live.url);
    proceed();
    const result = loaded(await loading);
    expect(result.info).toMatchObject({ version: '1.0.0', fromCache: true });
    await host.dispose(result.id);
    expect(await live.count(fileOf(v1))).toBe(1);
  });
});

describe('3b. a removal is never undone by work in flight', () => {
  test('modelCache.clear() while a background check waits for the host: the model stays removed', async () => {
    const live = new LiveHost();
    await live.publish(await release('release'));
    await (await loadModel(live.url, { backend: 'wasm' })).dispose();
    let asked!: () => void;
    const askedPromise = new Promise<void>((resolve) => (asked = resolve));
    let answer!: () => void;
    const gate = new Promise<void>((resolve) => (answer = resolve));
    // fetch is injectable: this one holds the manifest request, as a slow host would.
    const slowFetch: typeof fetch = async (input, init) => {
      if (String(input).endsWith('manifest.json')) {
        asked();
        await gate;
      }
      return fetch(input, init);
    };
    const host = createModelHost({ runtimes: allRuntimes, fetch: slowFetch });
    const model = loaded(await host.load(request(live.url, 'background')));
    await askedPromise;
    await modelCache.clear();
    answer();
    await host.idle();
    await host.dispose(model.id);
    expect(await modelCache.list()).toEqual([]);
  });
});

describe('4. absurd sizes are refused before anything is evicted; models running elsewhere are never evicted', () => {
  test('a file size no device could hold is MANIFEST_INVALID naming the field, and the other cached model stays', async () => {
    const [other, hostile] = [new LiveHost(), new LiveHost()];
    await other.publish(await release('release'));
    await (await loadModel(other.url, { backend: 'wasm' })).dispose();
    const huge = await release('next');
    huge.variants.fp32.files[0]!.size = 2 ** 50;
    await hostile.publish(huge);
    const error = await expectOndeviceError(loadModel(hostile.url, { backend: 'wasm' }), 'MANIFEST_INVALID');
    expect(error.details).toMatchObject({ field: 'variants.fp32.files[0].size' });
    expect((await modelCache.list()).map((m) => m.manifestUrl)).toContain(other.url);
  });

  test('a model that cannot fit even with every other model gone fails with QUOTA_EXCEEDED and evicts nothing', async () => {
    const [other, big] = [new LiveHost(), new LiveHost()];
    await other.publish(await release('release'));
    await (await loadModel(other.url, { backend: 'wasm' })).dispose();
    const v2 = await release('next');
    await big.publish(v2);
    await expectOndeviceError(loadModel(big.url, { backend: 'wasm', maxCacheBytes: v2.variants.fp32.files[0]!.size - 1 }), 'QUOTA_EXCEEDED');
    expect((await modelCache.list()).find((m) => m.manifestUrl === other.url)?.activeVersion).toBe('1.0.0');
    expect(await big.count(fileOf(v2))).toBe(0);
  });

  test('a model running in another context (the worker) is not evicted to make room here', async () => {
    const [running, incoming] = [new LiveHost(), new LiveHost()];
    const [v1, v2] = [await release('release'), await release('next')];
    await running.publish(v1);
    await incoming.publish(v2);
    const inWorker = await loadModel(running.url, { backend: 'wasm', worker: true });
    // Here (the page) nothing is loaded: only the worker's lock says the other model runs.
    const budget = v2.variants.fp32.files[0]!.size + 1000;
    await expectOndeviceError(loadModel(incoming.url, { backend: 'wasm', worker: false, maxCacheBytes: budget }), 'QUOTA_EXCEEDED');
    expect((await modelCache.list()).find((m) => m.manifestUrl === running.url)?.activeVersion).toBe('1.0.0');
    await inWorker.dispose();
    // Once it stops running, it may be evicted.
    await eventually(async () => (await loadModel(incoming.url, { backend: 'wasm', worker: false, maxCacheBytes: budget }).then((m) => m.dispose().then(() => true), () => false)), 'the eviction once the model is disposed');
    expect((await modelCache.list()).map((m) => m.manifestUrl)).toEqual([incoming.url]);
  });
});

describe('5. a bare model URL never sticks on an old version', () => {
  test('after a failed update download, the next check asks for the file again and gets the new version', async () => {
    const live = new LiveHost(proxy);
    const [fp32, int8] = ['digits.fp32.3f6e6529.onnx', 'digits.int8.226be7b5.onnx'];
    await live.swap({ 'model.onnx': fp32 });
    const url = `${live.base}model.onnx`;
    const model = await loadModel(url, { backend: 'wasm', worker: false, update: 'never', retry: fast });
    const first = model.info.version;
    await live.swap({ 'model.onnx': int8 });
    // The new answer's headers arrive, then its body breaks off.
    await faults([{ match: 'model.onnx', fault: 'cut', after: 1000, times: 100 }]);
    await expectOndeviceError(model.checkForUpdate(), 'DOWNLOAD_FAILED');
    await faults([]);
    const check = await model.checkForUpdate();
    expect(check.available).toBe(true);
    expect(check.version).not.toBe(first);
    await model.dispose();
  });
});

describe('7. every model hears of revocations and activations that concern it, and only those', () => {
  test('a revocation seen in one context reaches a model running in another', async () => {
    const live = new LiveHost();
    const [v1, v2] = [await release('release'), await release('next')];
    await live.publish(v1);
    const updates: UpdateInfo[] = [];
    const inWorker = await loadModel(live.url, { backend: 'wasm', worker: true, onUpdate: (u) => updates.push(u) });
    await live.publish({ ...v2, revoked: ['1.0.0'] });
    // Here, an app that accepts only 1.0.x sees 1.0.0 revoked and 1.1.0 out of its range.
    await expectOndeviceError(loadModel(live.url, { backend: 'wasm', worker: false, update: 'blocking', version: '~1.0.0' }), 'VERSION_UNAVAILABLE');
    await eventually(() => updates.length > 0, 'the revocation in the worker');
    expect(updates).toEqual([{ version: '1.0.0', previousVersion: '1.0.0', revoked: true }]);
    await inWorker.dispose();
  });

  test('checkForUpdate on one model tells the other models of the same URL in the same worker', async () => {
    const live = new LiveHost();
    const [v1, v2] = [await release('release'), await release('next')];
    await live.publish(v1);
    const a = await loadModel(live.url, { backend: 'wasm', update: 'never' });
    const heard: UpdateInfo[] = [];
    const other = await loadModel(live.url, { backend: 'wasm', update: 'never', onUpdate: (u) => heard.push(u) });
    await live.publish(v2);
    expect(await a.checkForUpdate()).toMatchObject({ available: true, version: '1.1.0' });
    await eventually(() => heard.length > 0, 'onUpdate of the other model');
    expect(heard).toEqual([{ version: '1.1.0', previousVersion: '1.0.0', revoked: false }]);
    await a.dispose();
    await other.dispose();
  });

  test("an activation outside a model's version range is not announced to it", async () => {
    const live = new LiveHost();
    const [v1, v2] = [await release('release'), await release('next')];
    await live.publish(v1);
    const updates: UpdateInfo[] = [];
    const pinned = await loadModel(live.url, { backend: 'wasm', worker: true, version: '~1.0.0', update: 'never', onUpdate: (u) => updates.push(u) });
    await live.publish(v2);
    // Another context, with no range, activates 1.1.0 ...
    const here = await loadModel(live.url, { backend: 'wasm', worker: false, update: 'blocking' });
    expect(here.info.version).toBe('1.1.0');
    // ... and then sees 1.0.0 revoked. Messages from one context arrive in order: if the activation had
    // been announced to the pinned model, it would come first.
    await live.publish({ ...v2, revoked: ['1.0.0'] });
    await here.checkForUpdate();
    await here.dispose();
    await eventually(() => updates.length > 0, 'the revocation');
    expect(updates).toEqual([{ version: '1.0.0', previousVersion: '1.0.0', revoked: true }]);
    await pinned.dispose();
  });
});

describe('9. every failure an app can see has a code', () => {
  test('a malformed URL is INPUT_INVALID, for loadModel and modelCache', async () => {
    await expectOndeviceError(loadModel('http://[::1'), 'INPUT_INVALID');
    await expectOndeviceError(modelCache.remove('http://[::1'), 'INPUT_INVALID');
  });

  test('aborting a bare-file load while another context holds the file lock is ABORTED', async () => {
    const live = new LiveHost();
    const v1 = await release('release');
    await live.swap({ 'model.onnx': fileOf(v1) });
    let releaseLock!: () => void;
    const held = new Promise<void>((resolve) => (releaseLock = resolve));
    let granted!: () => void;
    const holding = new Promise<void>((resolve) => (granted = resolve));
    // Another context is storing the same file: it holds the file's lock.
    void navigator.locks.request(`ondevice:file:${v1.variants.fp32.files[0]!.sha256}`, () => {
      granted();
      return held;
    });
    await holding;
    try {
      const controller = new AbortController();
      const loading = loadModel(`${live.base}model.onnx`, { backend: 'wasm', worker: false, signal: controller.signal });
      await eventually(async () => (await live.count('model.onnx')) > 0, 'the download');
      await new Promise((r) => setTimeout(r, 200));
      controller.abort();
      await expectOndeviceError(loading, 'ABORTED');
    } finally {
      releaseLock();
    }
  });
});

describe('10. lifecycle', () => {
  test('reload racing dispose: the new session is released, the old one once, and reload says DISPOSED', async () => {
    const live = new LiveHost();
    const [v1, v2] = [await release('release'), await release('next')];
    await live.publish(v1);
    const { adapter, sessions } = flaky(() => undefined);
    const host = createModelHost({ runtimes: { onnx: adapter } });
    const { id } = loaded(await host.load(request(live.url)));
    await live.publish(v2);
    await host.checkForUpdate(id);
    const reloading = host.reload(id);
    await host.dispose(id);
    await expectOndeviceError(reloading, 'DISPOSED');
    expect(sessions.map((s) => s.releases)).toEqual([1, 1]);
  });

  test('disposing the last model does not kill its background update halfway', async () => {
    const live = new LiveHost();
    const [v1, v2] = [await release('release'), await release('next')];
    await live.publish(v1);
    await (await loadModel(live.url, { backend: 'wasm' })).dispose();
    // The new file is held at a gate after its first kilobyte, until the model is disposed.
    const gate = `dispose-${Math.random().toString(36).slice(2)}`;
    const file = v2.variants.fp32.files[0]!;
    await live.publish({ ...v2, variants: { fp32: { files: [{ ...file, path: `/gated/${gate}/digits/next/${file.path}` }] } } });
    const model = await loadModel(live.url, { backend: 'wasm' });
    expect(model.info.version).toBe('1.0.0');
    await eventually(async () => ((await (await fetch(`${server}/__gate/${gate}`)).json()) as { waiting: number }).waiting === 1, 'the background download to reach the gate');
    // The background update is halfway; the worker's last model goes, then the rest arrives.
    await model.dispose();
    await fetch(`${server}/__gate/${gate}`, { method: 'PUT' });
    await eventually(async () => (await modelCache.list())[0]?.activeVersion === '1.1.0', 'the update to complete after dispose', 30_000);
  });

  test('a background update that fails is reported in model.lastUpdateError', async () => {
    const live = new LiveHost();
    const [v1, v2] = [await release('release'), await release('next')];
    await live.publish(v1);
    await (await loadModel(live.url, { backend: 'wasm' })).dispose();
    await live.publish(v2);
    await live.swap({ [fileOf(v2)]: fileOf(v1) });
    const model = await loadModel(live.url, { backend: 'wasm' });
    expect(model.lastUpdateError).toBeNull();
    await eventually(() => model.lastUpdateError !== null, 'the failed background check');
    expect(model.lastUpdateError).toMatchObject({ code: 'INTEGRITY_MISMATCH' });
    expect(await onnxDigits.whichRelease(model)).toBe('1.0.0');
    await model.dispose();
  });
});

describe('11. smaller ones', () => {
  test('usage() counts what interrupted downloads keep, and clear() deletes it', async () => {
    const live = new LiveHost(proxy);
    const v1 = await release('release');
    await live.publish(v1);
    // The host sends 64 KiB and ends the body there; with no retries the load fails, keeping them.
    await faults([{ match: fileOf(v1), fault: 'cut', after: 64 * 1024, times: 1 }]);
    const loading = loadModel(live.url, { backend: 'wasm', worker: false, retry: { retries: 0 } });
    await expect(loading).rejects.toMatchObject({ name: 'OndeviceError' });
    expect((await modelCache.usage()).bytes).toBe(64 * 1024);
    const sha256 = v1.variants.fp32.files[0]!.sha256;
    const kept = await storedBytes();
    if (expected.opfs) expect(kept.opfs).toEqual({ [`${sha256}.partial`]: 64 * 1024 });
    else expect(kept.chunks).toEqual([`${sha256}/0`]);
    await modelCache.clear();
    expect((await modelCache.usage()).bytes).toBe(0);
    // Neither store keeps a byte of it (the partial went to OPFS where the engine has it).
    expect(await storedBytes()).toEqual({ opfs: {}, chunks: [] });
  });

  test("a model file redirected to another origin is refused; one redirected on the manifest's origin is fine", async () => {
    const live = new LiveHost();
    const v1 = await release('release');
    const file = v1.variants.fp32.files[0]!;
    const elsewhere = `${proxy}/digits/release/${file.path}`;
    await live.publish({ ...v1, variants: { fp32: { files: [{ ...file, path: `/__redirect?to=${encodeURIComponent(elsewhere)}` }] } } });
    const error = await expectOndeviceError(loadModel(live.url, { backend: 'wasm', retry: fast }), 'DOWNLOAD_FAILED');
    expect(error.details).toMatchObject({ redirectedTo: elsewhere });
    const same = new LiveHost();
    await same.publish({ ...v1, variants: { fp32: { files: [{ ...file, path: `/__redirect?to=${encodeURIComponent(`/digits/release/${file.path}`)}` }] } } });
    const model = await loadModel(same.url, { backend: 'wasm', retry: fast });
    expect(await onnxDigits.whichRelease(model)).toBe('1.0.0');
    await model.dispose();
  });

  test('a bare model URL whose host sends no ETag: a check that gets the same bytes announces nothing', async () => {
    const updates: UpdateInfo[] = [];
    const model = await loadModel(`${server}/no-etag/digits/release/digits.fp32.3f6e6529.onnx`, { backend: 'wasm', worker: false, update: 'never', onUpdate: (u) => updates.push(u) });
    const version = model.info.version;
    expect(await model.checkForUpdate()).toEqual({ available: false, revoked: false });
    // In this thread, a listener is called before checkForUpdate resolves: nothing was announced.
    expect(updates).toEqual([]);
    expect(model.info.version).toBe(version);
    await model.dispose();
  });
});

describe('hardening II: a record deleted by updateModel is deleted in its own transaction', () => {
  test('a record another context writes right after the change is kept (its revocations included)', async () => {
    const { createStore, get, set } = await import('idb-keyval');
    // Another context's connection to the same database.
    const other = createStore('ondevice-meta', 'meta');
    const store = defaultCacheStore();
    const url = `https://h.example/other-context/${Math.random()}/manifest.json`;
    const theirs = { url, name: 'm', kind: 'manifest', versions: {}, active: null, previous: null, validator: { etag: null, lastModified: null }, lastChecked: null, lastUsed: 0, revoked: ['1.0.0'] };
    let written: Promise<void> | undefined;
    await store.updateModel(url, () => {
      // Queued behind this change's transaction, as a write from another tab would be.
      written = set(`model:${url}`, theirs, other);
      return undefined;
    });
    await written;
    expect(await get(`model:${url}`, other)).toEqual(theirs);
    expect((await store.getModel(url))?.revoked).toEqual(['1.0.0']);
  });
});


describe('hardening II: an OPFS read is a miss only when the file is missing or short', () => {
  async function readInWorker(failAllocation: boolean, missing = false, attempt = 1): Promise<Record<string, unknown>> {
    const worker = new Worker(new URL('./fixtures/opfs-read-worker.ts', import.meta.url), { type: 'module' });
    try {
      return await new Promise((resolve, reject) => {
        worker.onmessage = (e: MessageEvent<Record<string, unknown>>) => resolve(e.data);
        worker.onerror = (e) => reject(new Error(`the worker failed: ${e.message}`));
        // Once in a full Firefox run the fixture worker never answered (its module never ran; alone
        // it answers in milliseconds): a silent worker is replaced once, and says so.
        setTimeout(() => reject(Object.assign(new Error('the fixture worker did not answer in 15 s'), { silent: true })), 15_000);
        worker.postMessage({ directory: `ondevice-read-test-${Math.random().toString(36).slice(2)}`, failAllocation, missing });
      });
    } catch (error) {
      if (attempt > 1 || !(error as { silent?: boolean }).silent) throw error;
      console.warn(`${String(error)}: starting a new one`);
      return readInWorker(failAllocation, missing, attempt + 1);
    } finally {
      worker.terminate();
    }
  }

  test('a buffer that cannot be allocated (memory pressure) is STORAGE_FAILED, not a missing file that GC would delete', async () => {
    if (!expected.opfs) return; // No OPFS in this engine: bytes live in IndexedDB.
    expect(await readInWorker(false)).toEqual({ length: 1000 });
    expect(await readInWorker(true)).toMatchObject({ code: 'STORAGE_FAILED', message: expect.stringMatching(/RangeError.*The cached version is kept/) });
    expect(await readInWorker(false, true)).toEqual({ miss: true });
  });
});

describe('hardening II: a revocation recorded elsewhere while a version downloads', () => {
  test('stops its activation (checked in the activation transaction): the running version stays active', async () => {
    const live = new LiveHost();
    const [v1, v2] = [await release('release'), await release('next')];
    await live.publish(v1);
    await (await loadModel(live.url, { backend: 'wasm' })).dispose();
    // 1.1.0's file is held at a gate after its first kilobyte, until the test opens it.
    const gate = `revoke-${Math.random().toString(36).slice(2)}`;
    const file = v2.variants.fp32.files[0]!;
    await live.publish({ ...v2, variants: { fp32: { files: [{ ...file, path: `/gated/${gate}/digits/next/${file.path}` }] } } });
    const model = await loadModel(live.url, { backend: 'wasm' });
    try {
      expect(model.info.version).toBe('1.0.0');
      await eventually(async () => ((await (await fetch(`${server}/__gate/${gate}`)).json()) as { waiting: number }).waiting === 1, 'the background download to reach the gate');
      // Another tab hears that 1.1.0 is revoked and records it, while this one downloads it.
      const { revoke } = await import('../../src/cache/records.js');
      await defaultCacheStore().updateModel(live.url, (r) => r && revoke(r, ['1.1.0']));
      await fetch(`${server}/__gate/${gate}`, { method: 'PUT' });
      await eventually(() => model.lastUpdateError !== null, 'the background update to end');
      expect(model.lastUpdateError).toMatchObject({ code: 'VERSION_UNAVAILABLE', message: expect.stringMatching(/revoked while it downloaded/) });
      expect((await defaultCacheStore().getModel(live.url))?.active).toBe('1.0.0');
    } finally {
      await model.dispose();
    }
  });
});

/**
 * @file `ondevice/node` in Node, against the real model server and fault proxy: the same manifest,
 * update, revocation and integrity rules as in browsers, on the disk cache and onnxruntime-node.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { loadModel, openModelCache, isOndeviceError, type Model, type UpdateInfo } from '../../src/node/index.js';
import { defaultCacheDir } from '../../src/node/cache-dir.js';
import { digitsTestSet } from '../support/digits.mjs';
import { tfjsReferenceLogits } from '../support/digits-tfjs.mjs';
import { signedReleases, type SignedReleases } from '../support/signed.js';
import { LiveHost, eventually, maxAbsDiff, release, startServers, whichRelease, type ManifestJson, type Servers } from '../support/node-host.js';

let servers: Servers;
let cacheDir: string;
const models: Model[] = [];

beforeAll(async () => {
  servers = await startServers();
});
afterAll(async () => {
  await servers.close();
});
beforeEach(async () => {
  cacheDir = mkdtempSync(join(tmpdir(), 'ondevice-node-'));
  return async () => {
    for (const m of models.splice(0)) await m.dispose();
    rmSync(cacheDir, { recursive: true, force: true });
  };
});

const load = async (url: string | URL, options: Parameters<typeof loadModel>[1] = {}) => {
  const model = await loadModel(url, { cacheDir, ...options });
  models.push(model);
  return model;
};

const contentFiles = () =>
  existsSync(join(cacheDir, 'content'))
    ? readdirSync(join(cacheDir, 'content'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name))
    : [];

describe('loading', () => {
  test('the digits release over HTTP runs on onnxruntime-node and equals its numbers on the same file', async () => {
    const model = await load(`${servers.server}/digits/release/manifest.json`, { variant: 'fp32' });
    expect(model.info).toMatchObject({ name: 'digits', version: '1.0.0', variant: 'fp32', runtime: 'onnx', backend: 'cpu', fromCache: false });
    // 'auto' on Linux tries CUDA first; this build has no CUDA, and says so.
    expect(model.info.fallbacks).toEqual([{ backend: 'cuda', reason: expect.stringMatching(/cuda/i) }]);
    const { images, dims } = digitsTestSet();
    const out = await model.run({ image: { type: 'float32', data: images, dims } });
    expect(out['logits']!.dims).toEqual([dims[0], 10]);
    expect(maxAbsDiff(out['logits']!.data as Float32Array, servers.references['1.0.0'])).toBe(0);
  });

  test("'auto' picks int8 for onnxruntime-node's CPU, after probing the providers this install lacks", async () => {
    const model = await load(`${servers.server}/digits/release/manifest.json`);
    expect(model.info).toMatchObject({ variant: 'int8', backend: 'cpu' });
    expect(model.info.fallbacks).toEqual([{ backend: 'cuda', reason: expect.stringContaining('CUDA provider is not installed') }]);
  });

  test('files are named by their SHA-256 only, and a second load reads them from the disk cache', async () => {
    const manifest = await release('release');
    const host = new LiveHost(servers.server);
    await host.publish(manifest);
    await (await load(host.url)).dispose();
    const sha = manifest.variants['fp32']!.files[0]!.sha256;
    expect(contentFiles().map((f) => f.slice(cacheDir.length))).toEqual([join('/content', sha.slice(0, 2), sha)]);
    const again = await load(host.url, { update: 'never' });
    expect(again.info.fromCache).toBe(true);
    expect(await host.count(manifest.variants['fp32']!.files[0]!.path)).toBe(1);
    expect(await whichRelease(again, servers.references)).toBe('1.0.0');
  });

  test('a manifest by path or file: URL loads with no network, and the cache lists it under its file: URL', async () => {
    const path = fileURLToPath(new URL('../../models/digits/release/manifest.json', import.meta.url));
    const model = await load(path, { variant: 'fp32' });
    expect(model.info).toMatchObject({ version: '1.0.0', fromCache: false, url: pathToFileURL(path).href });
    expect(await whichRelease(model, servers.references)).toBe('1.0.0');
    const byUrl = await load(pathToFileURL(path), { variant: 'fp32' });
    expect(byUrl.info.fromCache).toBe(true);
    const cache = openModelCache(cacheDir);
    expect((await cache.list()).map((m) => m.manifestUrl)).toEqual([pathToFileURL(path).href]);
    await model.dispose();
    await byUrl.dispose();
    await cache.remove(path);
    expect(await cache.list()).toEqual([]);
    expect(contentFiles()).toEqual([]);
  });

  test('a path that does not exist: DOWNLOAD_FAILED naming it; a scheme Node cannot load: INPUT_INVALID', async () => {
    await expect(load('/nowhere/manifest.json')).rejects.toMatchObject({ name: 'OndeviceError', code: 'DOWNLOAD_FAILED', message: expect.stringMatching(/^\/nowhere\/manifest\.json was not found/), details: { path: '/nowhere/manifest.json', status: 404 } });
    await expect(load('./nowhere/manifest.json')).rejects.toMatchObject({ message: expect.stringContaining(`relative paths are resolved from the working directory, ${process.cwd()}`) });
    await expect(load('ftp://example.com/manifest.json')).rejects.toMatchObject({ code: 'INPUT_INVALID' });
  });

  test("a backend that does not exist in Node is skipped with its reason; 'webgpu' alone is BACKEND_UNAVAILABLE", async () => {
    const model = await load(`${servers.server}/digits/release/manifest.json`, { backend: ['wasm', 'cpu'], variant: 'fp32' });
    expect(model.info.backend).toBe('cpu');
    expect(model.info.fallbacks).toEqual([{ backend: 'wasm', reason: expect.stringContaining("no 'wasm' execution provider") }]);
    await expect(load(`${servers.server}/digits/release/manifest.json`, { backend: 'wasm' })).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
  });

  test('the default cache directory is $ONDEVICE_CACHE_DIR, else the user cache directory', () => {
    expect(defaultCacheDir({ ONDEVICE_CACHE_DIR: '/srv/models' })).toBe('/srv/models');
    expect(defaultCacheDir({ ONDEVICE_CACHE_DIR: '' })).toBe(process.platform === 'linux' ? join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'ondevice') : expect.stringContaining('ondevice'));
  });
});

describe('updates, revocation, offline', () => {
  test('offline at start with a cached version: it runs that version', async () => {
    const host = new LiveHost(servers.server);
    await host.publish(await release('release'));
    await (await load(host.url)).dispose();
    await host.down(true);
    const model = await load(host.url, { update: 'blocking' });
    expect(model.info).toMatchObject({ version: '1.0.0', fromCache: true });
    expect(model.lastUpdateError?.code).toBe('DOWNLOAD_FAILED');
    expect(await whichRelease(model, servers.references)).toBe('1.0.0');
  });

  test('a new version is downloaded in the background, verified, announced, and run after reload()', async () => {
    const host = new LiveHost(servers.server);
    await host.publish(await release('release'));
    const updates: UpdateInfo[] = [];
    const model = await load(host.url, { onUpdate: (u) => updates.push(u) });
    await host.publish(await release('next'));
    expect(await model.checkForUpdate()).toEqual({ available: true, version: '1.1.0', revoked: false });
    await eventually(() => updates.length > 0, 'the update event');
    expect(updates).toEqual([{ version: '1.1.0', previousVersion: '1.0.0', revoked: false }]);
    expect(await whichRelease(model, servers.references)).toBe('1.0.0');
    await model.reload();
    expect(model.info.version).toBe('1.1.0');
    expect(await whichRelease(model, servers.references)).toBe('1.1.0');
  });

  test('a revoked version is not run from the cache, even offline', async () => {
    const host = new LiveHost(servers.server);
    const [v1, v2] = [await release('release'), await release('next')];
    await host.publish(v1);
    await (await load(host.url)).dispose();
    await host.publish({ ...v2, revoked: ['1.0.0'] });
    const updates: UpdateInfo[] = [];
    const model = await load(host.url, { onUpdate: (u) => updates.push(u) });
    await eventually(() => updates.length > 0, 'the revocation');
    expect(updates[0]).toEqual({ version: '1.1.0', previousVersion: '1.0.0', revoked: true });
    await host.down(true);
    const offline = await load(host.url);
    expect(offline.info.version).toBe('1.1.0');
    expect(await whichRelease(offline, servers.references)).toBe('1.1.0');
  });

  test('a cached file whose bytes changed on disk is found at start and fetched again', async () => {
    const host = new LiveHost(servers.server);
    const manifest = await release('release');
    await host.publish(manifest);
    await (await load(host.url)).dispose();
    const [file] = contentFiles();
    const bytes = readFileSync(file!);
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
    writeFileSync(file!, bytes);
    const model = await load(host.url, { update: 'never' });
    expect(await whichRelease(model, servers.references)).toBe('1.0.0');
    await eventually(async () => (await host.count(manifest.variants['fp32']!.files[0]!.path)) === 2, 'the file fetched again');
    expect(readFileSync(file!).equals(bytes)).toBe(false);
  });

  test('a download cut mid-file resumes with Range from what the disk kept', async () => {
    const manifest = await release('release');
    const host = new LiveHost(servers.server, servers.proxy);
    await host.publish(manifest);
    const file = manifest.variants['fp32']!.files[0]!;
    await fetch(`${servers.proxy}/__faults`, { method: 'PUT', body: JSON.stringify([{ match: file.path, fault: 'cut', after: 50_000, times: 1 }]) });
    // The proxy ends the response short; the connection closes when its keep-alive timeout (5 s)
    // passes, which the client sees as a body cut off. No short stall bound: one would also break off
    // a healthy request that a busy machine left quiet for a moment, and the log would show a third.
    const model = await load(host.url, { retry: { retries: 3, baseDelayMs: 10, stallTimeoutMs: 30_000 } });
    expect(await whichRelease(model, servers.references)).toBe('1.0.0');
    const log = (await (await fetch(`${servers.proxy}/__log`)).json()) as Array<{ path: string; range?: string }>;
    const asks = log.filter((r) => r.path.endsWith(file.path));
    expect(asks.map((r) => r.range ?? null)).toEqual([null, expect.stringMatching(/^bytes=\d{5,}-$/)]);
  }, 60_000);

  test('abort mid-download: ABORTED, nothing activated or half-written; the next load resumes with Range', async () => {
    const manifest = await release('release');
    const file = manifest.variants['fp32']!.files[0]!;
    const host = new LiveHost(servers.server, servers.proxy);
    await host.publish(manifest);
    // 40 kB, then nothing until the client goes: the abort never races the transfer.
    await fetch(`${servers.proxy}/__faults`, { method: 'PUT', body: JSON.stringify([{ match: file.path, fault: 'stall', after: 40_000, times: 1 }]) });
    const controller = new AbortController();
    const loading = load(host.url, { signal: controller.signal, onProgress: (e) => e.phase === 'download' && e.loaded > 0 && controller.abort() });
    await expect(loading).rejects.toMatchObject({ code: 'ABORTED' });
    expect(contentFiles()).toEqual([]);
    expect((await openModelCache(cacheDir).list())[0]?.activeVersion ?? null).toBeNull();
    const model = await load(host.url);
    expect(await whichRelease(model, servers.references)).toBe('1.0.0');
    const log = (await (await fetch(`${servers.proxy}/__log`)).json()) as Array<{ path: string; range?: string; status: number }>;
    const asks = log.filter((r) => r.path.endsWith(file.path));
    expect(asks.at(-1)).toMatchObject({ range: expect.stringMatching(/^bytes=[1-9]\d*-$/), status: 206 });
    expect(contentFiles()).toHaveLength(1);
  });

  test('a manifest whose sha256 is not 64 hex digits is MANIFEST_INVALID and writes nothing', async () => {
    const host = new LiveHost(servers.server);
    const manifest = await release('release');
    manifest.variants['fp32']!.files[0]!.sha256 = '../../../../etc/passwd';
    await host.publish(manifest);
    const error = await load(host.url).catch((e: unknown) => e);
    expect(isOndeviceError(error) && error.code).toBe('MANIFEST_INVALID');
    expect(readdirSync(cacheDir).filter((n) => n !== 'locks' && n !== 'tmp' && n !== 'index')).toEqual([]);
  });
});

describe('signed releases', () => {
  let signed: SignedReleases;
  beforeAll(async () => {
    signed = await signedReleases();
  });

  test('a release signed by the key given loads; by another key: SIGNATURE_INVALID and nothing cached', async () => {
    const host = new LiveHost(servers.server);
    await host.publish(signed.manifests.v1A as unknown as ManifestJson);
    const model = await load(host.url, { publicKey: signed.publicA });
    expect(await whichRelease(model, servers.references)).toBe('1.0.0');
    const other = new LiveHost(servers.server);
    await other.publish(signed.manifests.v2B as unknown as ManifestJson);
    const error = await load(other.url, { publicKey: signed.publicA }).catch((e: unknown) => e);
    expect(isOndeviceError(error) && error.code).toBe('SIGNATURE_INVALID');
    expect((await openModelCache(cacheDir).list()).map((m) => m.manifestUrl)).toEqual([host.url]);
  });
});

describe('ONNX external data', () => {
  test.each(['exporter layout', '--external-data'])('a release whose weights are in a data file (%s) equals onnxruntime-node on the one-file model', async (layout) => {
    const { main } = await import('../../src/cli/main.js');
    const exporters = fileURLToPath(new URL('../../models/exporters/', import.meta.url));
    const out = join(cacheDir, 'release');
    const argv = layout === '--external-data' ? ['publish', `${exporters}classifier-2024-05.onnx`, out, '--version', '1.0.0', '--name', 'classifier', '--external-data'] : ['publish', `${exporters}external-data`, out, '--version', '1.0.0', '--name', 'classifier'];
    expect(await main(argv, { out: () => undefined, err: () => undefined })).toBe(0);
    const model = await load(join(out, 'manifest.json'));
    const features = Float32Array.from({ length: 3 * 64 }, (_, i) => Math.sin(i));
    const got = await model.run({ features: { type: 'float32', data: features, dims: [3, 64] } });
    const ort = (await import('onnxruntime-node')).default;
    const session = await ort.InferenceSession.create(`${exporters}classifier-2024-05.onnx`);
    const want = await session.run({ features: new ort.Tensor('float32', features, [3, 64]) });
    await session.release();
    expect(maxAbsDiff(got['logits']!.data as Float32Array, want['logits']!.data as Float32Array)).toBeLessThanOrEqual(1e-6);
  });
});

describe('TF.js models', () => {
  test("a TF.js layers release runs on TF.js's CPU backend and equals TF.js's own numbers", async () => {
    const path = fileURLToPath(new URL('../../models/digits-tfjs/layers/manifest.json', import.meta.url));
    const model = await load(path);
    expect(model.info).toMatchObject({ runtime: 'tfjs-layers', backend: 'cpu', fallbacks: [] });
    const { images } = digitsTestSet();
    const reference = await tfjsReferenceLogits('layers');
    const out = await model.run({ image: { type: 'float32', data: images.slice(0, 640), dims: [10, 8, 8, 1] } });
    expect(maxAbsDiff(out['logits']!.data as Float32Array, reference.logits.slice(0, 100))).toBeLessThanOrEqual(1e-5);
    // One graph, named "model"; no kept outputs on TF.js: INPUT_INVALID that says to run without keep.
    expect(Object.keys(model.info.graphs)).toEqual(['model']);
    expect(model.info.assets).toEqual([]);
    const kept = await model.run({ image: { type: 'float32', data: images.slice(0, 64), dims: [1, 8, 8, 1] } }, { keep: true }).catch((e: unknown) => e);
    expect(kept).toMatchObject({ code: 'INPUT_INVALID', details: { input: 'keep', runtime: 'tfjs-layers' } });
    expect((kept as Error).message).toMatch(/Run it without "keep"/);
    // A graph by its name works like no option at all.
    const named = await model.run({ image: { type: 'float32', data: images.slice(0, 64), dims: [1, 8, 8, 1] } }, { graph: 'model' });
    expect(maxAbsDiff((named['logits'] as { data: Float32Array }).data, reference.logits.slice(0, 10))).toBeLessThanOrEqual(1e-5);
  });
});

describe('modelCache on disk', () => {
  test('usage counts the files once and reports the disk; clear empties the directory of model bytes', async () => {
    const manifest = await release('release');
    const host = new LiveHost(servers.server);
    await host.publish(manifest);
    await (await load(host.url)).dispose();
    const cache = openModelCache(cacheDir);
    const usage = await cache.usage();
    const size = manifest.variants['fp32']!.files[0]!.size;
    expect(usage).toMatchObject({ bytes: size, models: 1, store: 'disk', storeBytes: { disk: size, opfs: 0, indexeddb: 0 }, persisted: true });
    expect(usage.originQuota).toBeGreaterThan(size);
    await cache.clear();
    expect(await cache.list()).toEqual([]);
    expect((await cache.usage()).bytes).toBe(0);
    expect(contentFiles()).toEqual([]);
  });
});

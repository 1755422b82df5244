/**
 * @file `transformersCache` in the browser (issue 27): transformers.js's web build, unchanged, on the
 * page, runs a feature-extraction pipeline whose files come from an ondevice release, and gives
 * exactly what it gives reading the repo folder itself from the same server. Its onnxruntime-web WASM
 * build is served by the model host too; a trap stands in for the Hugging Face hub, and the server's
 * log shows no request to it.
 */
import { env, pipeline } from '@huggingface/transformers';
import { beforeAll, describe, expect, inject, test } from 'vitest';
import { createStore } from 'idb-keyval';
import { transformersCache, type TransformersCache } from '../../src/index.js';
import { idbByteStore } from '../../src/cache/bytes-idb.js';
import { opfsByteStore } from '../../src/cache/bytes-opfs.js';
import { defaultCacheStore } from '../../src/cache/store.js';
import { HELD_UP_TO } from '../../src/pipeline/release-files.js';
import { alterStored, dropStoredBytes } from './stores.js';
import { server } from './helpers.js';
import { LiveHost, type ManifestJson } from './live.js';

const bert = inject('tinyBert');
let manifests: Record<'1.0.0' | '2.0.0', ManifestJson>;
let count = 0;
const references: Partial<Record<string, number[][]>> = {};

beforeAll(async () => {
  const both = `${server}${bert.both.replace(/manifest\.json$/, '')}`;
  manifests = { '1.0.0': await (await fetch(`${both}manifest.1.0.0.json`)).json(), '2.0.0': await (await fetch(`${both}manifest.2.0.0.json`)).json() };
  env.backends.onnx.wasm!.wasmPaths = { mjs: `${server}${bert.wasmPaths.mjs}`, wasm: `${server}${bert.wasmPaths.wasm}` };
  env.backends.onnx.wasm!.numThreads = 1;
  env.remoteHost = `${server}/hub-trap/`;
  env.useBrowserCache = false;
  env.useWasmCache = false;
});

const freshRepo = () => `acme/tiny-bert-${Date.now().toString(36)}-${count++}`;

async function embed(repo: string, dtype: 'fp32' | 'q8'): Promise<number[][]> {
  const extractor = await pipeline('feature-extraction', repo, { dtype, device: 'wasm' });
  try {
    return (await extractor(bert.sentences, { pooling: 'mean', normalize: true })).tolist() as number[][];
  } finally {
    await extractor.dispose();
  }
}

/**
 * transformers.js reading the repo folder (`models/tiny-bert/<v>`, or the external-data folder the
 * setup made) from the server itself, as from a mirror of the hub (no custom cache, no browser
 * cache): the repo id `tiny-bert/v1` at `<server>/`.
 */
async function reference(version: 'v1' | 'v2' | 'external', dtype: 'fp32' | 'q8' = 'q8'): Promise<number[][]> {
  const key = `${version} ${dtype}`;
  if (!references[key]) {
    const [host, template] = [env.remoteHost, env.remotePathTemplate];
    env.useCustomCache = false;
    env.allowLocalModels = false;
    env.remotePathTemplate = '{model}/';
    try {
      // transformers.js takes ids of two segments at most: the folder's last two, under the host.
      const segments = (version === 'external' ? bert.external.folder : `${bert.folders}${version}`).split('/').filter(Boolean);
      env.remoteHost = `${server}/${segments.slice(0, -2).map((s) => `${s}/`).join('')}`;
      references[key] = await embed(segments.slice(-2).join('/'), dtype);
    } finally {
      [env.remoteHost, env.remotePathTemplate] = [host, template];
    }
  }
  return references[key];
}

async function through(cache: TransformersCache, repo: string, dtype: 'fp32' | 'q8' = 'q8'): Promise<number[][]> {
  env.useCustomCache = true;
  env.customCache = cache;
  env.allowLocalModels = false;
  try {
    return await embed(repo, dtype);
  } finally {
    env.useCustomCache = false;
  }
}

const hubRequests = async () => ((await (await fetch(`${server}/__requests`)).json()) as Array<{ path: string }>).filter((r) => r.path.startsWith('/hub-trap/'));

async function hosting(version: '1.0.0' | '2.0.0'): Promise<LiveHost> {
  const host = new LiveHost();
  await host.publish(manifests[version]);
  return host;
}

describe('an unchanged transformers.js pipeline on the page, its files from an ondevice release', () => {
  test.each(['q8', 'fp32'] as const)("dtype %s: exactly the embeddings transformers.js computes reading the repo folder; only the release's files are fetched", async (dtype) => {
    const host = await hosting('1.0.0');
    const repo = freshRepo();
    // The browser default variant is int8 (transformers.js's WASM default, q8); fp32 says so.
    const cache = await transformersCache({ models: { [repo]: host.url }, ...(dtype === 'fp32' && { variant: 'fp32' }) });
    const ours = await through(cache, repo, dtype);
    expect(ours).toEqual(await reference('v1', dtype));
    expect(ours).toHaveLength(bert.sentences.length);
    const fetched = (await host.requests()).map((r) => r.path.replace(/^\/live\/[^/]+\//, ''));
    expect(fetched.filter((p) => p.endsWith('.onnx'))).toEqual([expect.stringMatching(dtype === 'q8' ? /^model\.int8\./ : /^model\.fp32\./)]);
    expect(await hubRequests()).toEqual([]);
  });

  test('a graph with its weights in external data (.onnx_data): transformers.js asks for it by its own name and gets the published file; the same embeddings', async () => {
    const host = new LiveHost();
    await host.publish(await (await fetch(`${server}${bert.external.manifest}`)).json());
    const repo = freshRepo();
    expect(await through(await transformersCache({ models: { [repo]: host.url } }), repo)).toEqual(await reference('external'));
    const fetched = (await host.requests()).map((r) => r.path.replace(/^\/live\/[^/]+\//, ''));
    expect(fetched.filter((p) => /\.(onnx|data)$/.test(p)).sort()).toEqual([expect.stringMatching(/^model\.int8\.[0-9a-f]{8}\.data$/), expect.stringMatching(/^model\.int8\.[0-9a-f]{8}\.onnx$/)]);
    expect(await hubRequests()).toEqual([]);
  });

  test("storage: 'indexeddb' (the bytes in IndexedDB, not OPFS): the same embeddings", async () => {
    const host = await hosting('1.0.0');
    const repo = freshRepo();
    expect(await through(await transformersCache({ models: { [repo]: host.url }, storage: 'indexeddb' }), repo)).toEqual(await reference('v1'));
  });

  test('an update moves weights and tokenizer together; the cache object pinned to 1.0.0 keeps serving 1.0.0 whole', async () => {
    const host = await hosting('1.0.0');
    const first = freshRepo();
    expect(await through(await transformersCache({ models: { [first]: host.url } }), first)).toEqual(await reference('v1'));
    await host.publish(manifests['2.0.0']);
    let heard!: (info: unknown) => void;
    const updated = new Promise((resolve) => (heard = resolve));
    const second = freshRepo();
    const pinned = await transformersCache({ models: { [second]: host.url }, onUpdate: (info) => heard(info) });
    expect(await through(pinned, second)).toEqual(await reference('v1'));
    expect(await updated).toEqual({ repo: second, version: '2.0.0', previousVersion: '1.0.0', revoked: false });
    const third = freshRepo();
    expect(await through(await transformersCache({ models: { [third]: host.url } }), third)).toEqual(await reference('v2'));
    expect(await reference('v2')).not.toEqual(await reference('v1'));
  });

  test("small files read together from IndexedDB: one whose bytes were lost and one whose bytes were altered are downloaded again, alone; the embeddings stay 1.0.0's", async () => {
    const host = await hosting('1.0.0');
    const repo = freshRepo();
    expect(await through(await transformersCache({ models: { [repo]: host.url } }), repo)).toEqual(await reference('v1'));
    const assets = manifests['1.0.0']['assets'] as Array<{ name: string; path: string; sha256: string }>;
    const [lost, altered] = ['tokenizer.json', 'config.json'].map((name) => assets.find((a) => a.name === name)!);
    const store = defaultCacheStore();
    for (const file of [lost!, altered!]) expect((await store.getFile(file.sha256))?.store ?? 'indexeddb').toBe('indexeddb');
    await dropStoredBytes(lost!.sha256);
    await alterStored(altered!.sha256);
    const before = (await host.requests()).length;
    const again = freshRepo();
    expect(await through(await transformersCache({ models: { [again]: host.url } }), again)).toEqual(await reference('v1'));
    const fetched = (await host.requests()).slice(before).map((r) => r.path.replace(/^\/live\/[^/]+\//, ''));
    expect(fetched.filter((p) => p !== 'manifest.json').sort()).toEqual([lost!.path, altered!.path].sort());
  });

  test('with the host down the cached version serves; a tampered file never reaches transformers.js', async () => {
    const host = await hosting('1.0.0');
    const repo = freshRepo();
    await through(await transformersCache({ models: { [repo]: host.url } }), repo);
    await host.down(true);
    const offline = freshRepo();
    expect(await through(await transformersCache({ models: { [offline]: host.url }, update: 'blocking' }), offline)).toEqual(await reference('v1'));
    await host.down(false);

    // Bytes that are not the ones the manifest names (a hash no file here has: the cache, which shares
    // files between versions by hash, cannot already hold it).
    const other = new LiveHost();
    const forged = structuredClone(manifests['1.0.0']);
    (forged.variants as Record<string, { files: Array<{ sha256: string }> }>)['int8']!.files[0]!.sha256 = 'ab'.repeat(32);
    await other.publish(forged);
    const errors: Array<{ code: string }> = [];
    const tampered = freshRepo();
    await expect(through(await transformersCache({ models: { [tampered]: other.url }, onError: (e) => errors.push(e) }), tampered)).rejects.toThrow();
    expect(errors.map((e) => e.code)).toContain('INTEGRITY_MISMATCH');
    expect(await hubRequests()).toEqual([]);
  });
});

describe('big files streamed from storage as transformers.js reads them, checked as they flow', () => {
  test.each(['auto', 'indexeddb'] as const)("storage '%s': bytes altered after the file was matched fail the body read before its end (INTEGRITY_MISMATCH); the copy is deleted and the next read downloads it again", async (storage) => {
    const host = new LiveHost();
    const manifest = (await (await fetch(`${server}${bert.external.manifest}`)).json()) as ManifestJson;
    await host.publish(manifest);
    const repo = freshRepo();
    const large = (manifest['assets'] as Array<{ name: string; path: string; sha256: string; size: number }>).find((a) => a.name === 'large.bin')!;
    expect(large.size).toBeGreaterThan(HELD_UP_TO);
    const original = new Uint8Array(await (await fetch(`${server}${bert.external.folder}/large.bin`)).arrayBuffer());
    const first = await transformersCache({ models: { [repo]: host.url }, storage });
    // Compared by hand: a deep equality over 5 MiB takes vitest most of a minute.
    const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);
    expect(same(new Uint8Array(await (await first.match(`/models/${repo}/large.bin`))!.arrayBuffer()), original)).toBe(true);
    const store = defaultCacheStore(storage);
    const errors: Array<{ code: string }> = [];
    const cache = await transformersCache({ models: { [repo]: host.url }, storage, onError: (e) => errors.push(e) });
    const response = (await cache.match(`/models/${repo}/large.bin`))!;
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe(String(large.size));
    // The stored bytes change (the same size, the record untouched) before the body is read.
    const record = (await store.getFile(large.sha256))!;
    const bytes = (await store.readFile(record))!;
    bytes[bytes.length - 10]! ^= 0xff;
    await (record.store === 'opfs' ? opfsByteStore('ondevice') : idbByteStore(createStore('ondevice-chunks', 'chunks'))).write(large.sha256, bytes, 0);
    const reader = response.body!.getReader();
    let delivered = 0;
    const failure = await (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return undefined;
        delivered += value.byteLength;
      }
    })().catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'INTEGRITY_MISMATCH' });
    expect(delivered).toBeLessThan(large.size);
    expect(errors.map((e) => e.code)).toEqual(['INTEGRITY_MISMATCH']);
    expect(await store.getFile(large.sha256)).toBeUndefined();
    const fetchedLarge = async () => (await host.requests()).filter((r) => r.path.endsWith(large.path)).length;
    const before = await fetchedLarge();
    expect(same(new Uint8Array(await (await cache.match(`/models/${repo}/large.bin`))!.arrayBuffer()), original)).toBe(true);
    expect(await fetchedLarge()).toBe(before + 1);
  });
});

test("in the app's own worker: the same embeddings, the same rules (the worker's storage is the page's)", async () => {
  const host = await hosting('1.0.0');
  const worker = new Worker(new URL('./fixtures/transformers-worker.ts', import.meta.url), { type: 'module' });
  try {
    const answer = new Promise<{ embeddings?: number[][]; error?: string }>((resolve) => worker.addEventListener('message', (e) => resolve(e.data), { once: true }));
    worker.postMessage({ manifest: host.url, repo: freshRepo(), wasmPaths: { mjs: `${server}${bert.wasmPaths.mjs}`, wasm: `${server}${bert.wasmPaths.wasm}` }, hubTrap: `${server}/hub-trap/`, sentences: bert.sentences });
    const { embeddings, error } = await answer;
    expect(error).toBeUndefined();
    expect(embeddings).toEqual(await reference('v1'));
    expect(await hubRequests()).toEqual([]);
  } finally {
    worker.terminate();
  }
});

/**
 * @file `transformersCache` in Node (issue 27): transformers.js's Node build, unchanged, runs a
 * feature-extraction pipeline whose files come from an ondevice release on a real host on
 * 127.0.0.1, and gives exactly what it gives reading the repo folder itself. Nothing is asked of any
 * other host (a trap stands in for the Hugging Face hub).
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { env, pipeline } from '@huggingface/transformers';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { transformersCache, type TransformersCache } from '../../src/node/index.js';
import { startModelServer } from '../support/model-server.mjs';
import { LiveHost, type ManifestJson } from '../support/node-host.js';
import { HELD_UP_TO } from '../../src/pipeline/release-files.js';
import { LARGE_ASSET, SENTENCES, TINY_BERT, tinyBertExternal, tinyBertReleases } from '../support/tiny-bert.mjs';

let server: Awaited<ReturnType<typeof startModelServer>>;
let hub: Server;
const hubRequests: string[] = [];
let root = '';
let local = '';
let cacheDir = '';
let manifests: Record<'1.0.0' | '2.0.0', ManifestJson>;
let repoCount = 0;
let external: { folder: string; release: string };

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'ondevice-tiny-bert-'));
  await tinyBertReleases(`${root}/`);
  external = await tinyBertExternal(`${root}/`);
  server = await startModelServer({ root });
  const read = (name: string) => JSON.parse(readFileSync(join(root, 'both', name), 'utf8')) as ManifestJson;
  manifests = { '1.0.0': read('manifest.1.0.0.json'), '2.0.0': read('manifest.2.0.0.json') };
  // transformers.js reading the repo folders itself: the reference.
  local = mkdtempSync(join(tmpdir(), 'ondevice-tiny-bert-local-'));
  cpSync(join(TINY_BERT, 'v1'), join(local, 'local', 'bert-v1'), { recursive: true });
  cpSync(join(TINY_BERT, 'v2'), join(local, 'local', 'bert-v2'), { recursive: true });
  cpSync(external.folder, join(local, 'local', 'bert-external'), { recursive: true });
  hub = createServer((req, res) => {
    hubRequests.push(req.url ?? '');
    res.writeHead(500).end();
  });
  await new Promise<void>((resolve) => hub.listen(0, '127.0.0.1', resolve));
  env.remoteHost = `http://127.0.0.1:${(hub.address() as { port: number }).port}/`;
  env.useFSCache = false;
  env.localModelPath = `${local}/`;
}, 60_000);
afterAll(async () => {
  env.useCustomCache = false;
  await server?.close();
  await new Promise((resolve) => hub?.close(resolve));
  rmSync(root, { recursive: true, force: true });
  rmSync(local, { recursive: true, force: true });
});
beforeEach(() => {
  cacheDir = mkdtempSync(join(tmpdir(), 'ondevice-tiny-bert-cache-'));
  hubRequests.length = 0;
  return () => rmSync(cacheDir, { recursive: true, force: true });
});

/** A fresh repo id each time: transformers.js keeps what it loaded by id for the process's life. */
const freshRepo = () => `acme/tiny-bert-${repoCount++}`;

/** transformers.js's mean-pooled, normalised embeddings of SENTENCES, through whichever cache `env` has. */
async function embed(repo: string, dtype: 'fp32' | 'q8' = 'fp32'): Promise<number[][]> {
  const extractor = await pipeline('feature-extraction', repo, { dtype });
  try {
    const out = await extractor(SENTENCES, { pooling: 'mean', normalize: true });
    return out.tolist() as number[][];
  } finally {
    await extractor.dispose();
  }
}

/** What transformers.js gives reading `local/bert-<v>` from disk, with no custom cache. */
async function reference(version: 'v1' | 'v2' | 'external', dtype: 'fp32' | 'q8' = 'fp32'): Promise<number[][]> {
  env.useCustomCache = false;
  env.allowLocalModels = true;
  env.allowRemoteModels = false;
  try {
    return await embed(`local/bert-${version}`, dtype);
  } finally {
    env.allowRemoteModels = true;
  }
}

/** transformers.js with `cache` as its custom cache, local files off (as in a browser app). */
async function through(cache: TransformersCache, repo: string, dtype: 'fp32' | 'q8' = 'fp32'): Promise<number[][]> {
  env.useCustomCache = true;
  env.customCache = cache;
  env.allowLocalModels = false;
  try {
    return await embed(repo, dtype);
  } finally {
    env.useCustomCache = false;
    env.allowLocalModels = true;
  }
}

async function hosting(version: '1.0.0' | '2.0.0'): Promise<LiveHost> {
  const host = new LiveHost(server.url);
  await host.publish(manifests[version]);
  return host;
}

describe('an unchanged transformers.js pipeline, its files from an ondevice release', () => {
  test.each(['fp32', 'q8'] as const)('dtype %s: exactly the embeddings transformers.js computes reading the repo folder; no request but to the model host', async (dtype) => {
    const host = await hosting('1.0.0');
    const repo = freshRepo();
    // `variant`: what transformers.js's first file (config.json) resolves; q8 is the int8 variant. Node's default is fp32, as transformers.js's.
    const cache = await transformersCache({ models: { [repo]: host.url }, cacheDir, ...(dtype === 'q8' && { variant: 'int8' }) });
    const ours = await through(cache, repo, dtype);
    expect(ours).toEqual(await reference('v1', dtype));
    expect(ours).toHaveLength(SENTENCES.length);
    expect(hubRequests).toEqual([]);
    // The variant transformers.js asked for, and nothing else: no second variant downloaded.
    const paths = (await host.requests()).map((r) => r.path.replace(/^\/live\/[^/]+\//, ''));
    expect(paths.filter((p) => p.endsWith('.onnx'))).toEqual([expect.stringMatching(dtype === 'fp32' ? /^model\.fp32\./ : /^model\.int8\./)]);
  });

  test("a dtype other than `variant`: that variant too, of the version the cache object serves; each downloaded once", async () => {
    const host = await hosting('1.0.0');
    const repo = freshRepo();
    const cache = await transformersCache({ models: { [repo]: host.url }, cacheDir });
    expect(await through(cache, repo, 'q8')).toEqual(await reference('v1', 'q8'));
    expect(await through(cache, repo, 'fp32')).toEqual(await reference('v1', 'fp32'));
    const files = (await host.requests()).map((r) => r.path.replace(/^\/live\/[^/]+\//, '')).filter((p) => p !== 'manifest.json');
    expect(files.filter((p) => p.endsWith('.onnx')).sort()).toEqual([expect.stringMatching(/^model\.fp32\./), expect.stringMatching(/^model\.int8\./)]);
    expect(new Set(files).size).toBe(files.length);
  });

  test('a graph with its weights in external data (.onnx_data): transformers.js asks for it by its own name and gets the published file; the same embeddings', async () => {
    const host = new LiveHost(server.url);
    await host.publish(JSON.parse(readFileSync(join(external.release, 'manifest.json'), 'utf8')) as ManifestJson);
    const repo = freshRepo();
    const cache = await transformersCache({ models: { [repo]: host.url }, cacheDir, variant: 'int8' });
    const ours = await through(cache, repo, 'q8');
    expect(ours).toEqual(await reference('external', 'q8'));
    expect(hubRequests).toEqual([]);
    const fetched = (await host.requests()).map((r) => r.path.replace(/^\/live\/[^/]+\//, ''));
    expect(fetched.filter((p) => /\.(onnx|data)$/.test(p)).sort()).toEqual([expect.stringMatching(/^model\.int8\.[0-9a-f]{8}\.data$/), expect.stringMatching(/^model\.int8\.[0-9a-f]{8}\.onnx$/)]);
    // The graph transformers.js gets names its data as it asks for it; a part the release lacks is a 404.
    const { externalDataLocations } = await import('../../src/runtime/onnx-external.js');
    const graph = new Uint8Array(await (await cache.match(`/models/${repo}/onnx/model_quantized.onnx`))!.arrayBuffer());
    expect(externalDataLocations(graph)).toEqual(['model_quantized.onnx_data']);
    const data = await cache.match(`https://huggingface.co/${repo}/resolve/main/onnx/model_quantized.onnx_data`);
    expect(Buffer.from(await data!.arrayBuffer()).equals(readFileSync(join(external.folder, 'onnx', 'model_quantized.onnx_data')))).toBe(true);
    expect((await cache.match(`/models/${repo}/onnx/model_quantized.onnx_data_1`))?.status).toBe(404);
  });

  test('a repo not in `models` is left to transformers.js (undefined), a file the release lacks is a 404, put stores nothing', async () => {
    const host = await hosting('1.0.0');
    const cache = await transformersCache({ models: { 'acme/tiny-bert': host.url }, cacheDir, onError: () => undefined });
    expect(await cache.match('/models/acme/other/config.json')).toBeUndefined();
    expect(await cache.match('https://huggingface.co/acme/tiny-bert-large/resolve/main/config.json')).toBeUndefined();
    const config = await cache.match('https://huggingface.co/acme/tiny-bert/resolve/main/config.json');
    expect(config?.status).toBe(200);
    expect(config?.headers.get('content-length')).toBe(String(readFileSync(join(TINY_BERT, 'v1', 'config.json')).length));
    expect(await config?.json()).toMatchObject({ model_type: 'bert' });
    const local = await cache.match('/models/acme/tiny-bert/tokenizer.json');
    expect(await local?.text()).toBe(readFileSync(join(TINY_BERT, 'v1', 'tokenizer.json'), 'utf8'));
    for (const missing of ['/models/acme/tiny-bert/generation_config.json', '/models/acme/tiny-bert/onnx/model_q4.onnx', '/models/acme/tiny-bert/onnx/nested/x.onnx']) {
      const response = await cache.match(missing);
      expect(response?.status, missing).toBe(404);
    }
    await cache.put('/models/acme/tiny-bert/config.json', new Response('{}'));
    expect(await (await cache.match('/models/acme/tiny-bert/config.json'))?.json()).toMatchObject({ model_type: 'bert' });
    expect(hubRequests).toEqual([]);
  });
});

describe('one version at a time, as a whole, and only a trusted one', () => {
  test('an update moves weights and tokenizer together: the cache object pinned to 1.0.0 serves 1.0.0 whole; onUpdate; the next one serves 2.0.0 whole', async () => {
    const host = await hosting('1.0.0');
    const first = freshRepo();
    expect(await through(await transformersCache({ models: { [first]: host.url }, cacheDir }), first)).toEqual(await reference('v1'));
    await host.publish(manifests['2.0.0']);
    const updates: unknown[] = [];
    let ready!: () => void;
    const updated = new Promise<void>((resolve) => (ready = resolve));
    const second = freshRepo();
    const pinned = await transformersCache({ models: { [second]: host.url }, cacheDir, onUpdate: (info) => (updates.push(info), ready()) });
    // Served from the cache at once (1.0.0, weights and tokenizer), while 2.0.0 downloads in the background.
    expect(await through(pinned, second)).toEqual(await reference('v1'));
    await updated;
    expect(updates).toEqual([{ repo: second, version: '2.0.0', previousVersion: '1.0.0', revoked: false }]);
    expect(pinned.version(second)).toBe('1.0.0');
    expect(pinned.version('acme/unmapped')).toBeUndefined();
    // Still 1.0.0's tokenizer from the pinned object, whatever the cache now holds as active.
    expect(await (await pinned.match(`/models/${second}/tokenizer.json`))?.text()).toBe(readFileSync(join(TINY_BERT, 'v1', 'tokenizer.json'), 'utf8'));
    const third = freshRepo();
    const next = await transformersCache({ models: { [third]: host.url }, cacheDir });
    expect(await through(next, third)).toEqual(await reference('v2'));
    expect(await (await next.match(`/models/${third}/tokenizer.json`))?.text()).toBe(readFileSync(join(TINY_BERT, 'v2', 'tokenizer.json'), 'utf8'));
    // The two versions embed the same text differently: the comparison above tells them apart.
    expect(await reference('v2')).not.toEqual(await reference('v1'));
    expect(hubRequests).toEqual([]);
  });

  test('with the host down, the cached version serves (update: blocking falls back too)', async () => {
    const host = await hosting('1.0.0');
    const repo = freshRepo();
    await through(await transformersCache({ models: { [repo]: host.url }, cacheDir }), repo);
    await host.down(true);
    for (const update of ['background', 'blocking'] as const) {
      const again = freshRepo();
      const errors: unknown[] = [];
      const cache = await transformersCache({ models: { [again]: host.url }, cacheDir, update, onError: (e) => errors.push(e) });
      expect(await through(cache, again)).toEqual(await reference('v1'));
      expect(errors).toEqual([]);
    }
    expect(hubRequests).toEqual([]);
  });

  test('a tampered file never reaches transformers.js: the pipeline fails, onError says INTEGRITY_MISMATCH, and nothing is asked elsewhere', async () => {
    const host = await hosting('1.0.0');
    const files = manifests['1.0.0'].variants['fp32']!.files;
    const tokenizer = (manifests['1.0.0']['assets'] as { name: string; path: string }[]).find((a) => a.name === 'tokenizer.json')!;
    // The model file served with another file's bytes.
    await host.swap({ [files[0]!.path]: tokenizer.path });
    const repo = freshRepo();
    const errors: Array<{ code: string }> = [];
    const cache = await transformersCache({ models: { [repo]: host.url }, cacheDir, onError: (e) => errors.push(e) });
    await expect(through(cache, repo)).rejects.toThrow(/ondevice|INTEGRITY_MISMATCH|DOWNLOAD_FAILED/);
    expect(errors.map((e) => e.code)).toContain('INTEGRITY_MISMATCH');
    expect(hubRequests).toEqual([]);
    // Fixed on the host: the next cache object serves the release.
    await host.swap({});
    const fixed = freshRepo();
    expect(await through(await transformersCache({ models: { [fixed]: host.url }, cacheDir }), fixed)).toEqual(await reference('v1'));
  });

  test('a big file is streamed from storage and checked as it flows: bytes altered after the match fail the body read before its end (INTEGRITY_MISMATCH), the copy is deleted, and the next read downloads it again', async () => {
    const host = new LiveHost(server.url);
    const manifest = JSON.parse(readFileSync(join(external.release, 'manifest.json'), 'utf8')) as ManifestJson;
    await host.publish(manifest);
    const repo = freshRepo();
    const large = (manifest['assets'] as Array<{ name: string; path: string; sha256: string; size: number }>).find((a) => a.name === 'large.bin')!;
    expect(large.size).toBeGreaterThan(HELD_UP_TO);
    const first = await transformersCache({ models: { [repo]: host.url }, cacheDir, variant: 'int8' });
    expect(Buffer.from(await (await first.match(`/models/${repo}/large.bin`))!.arrayBuffer()).equals(LARGE_ASSET)).toBe(true);
    const stored = join(cacheDir, 'content', large.sha256.slice(0, 2), large.sha256);
    const errors: Array<{ code: string }> = [];
    const cache = await transformersCache({ models: { [repo]: host.url }, cacheDir, variant: 'int8', onError: (e) => errors.push(e) });
    // Served from the cache (found, not read); the stored bytes change before the body is read.
    const response = (await cache.match(`/models/${repo}/large.bin`))!;
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe(String(large.size));
    const bytes = readFileSync(stored);
    bytes[bytes.length - 10]! ^= 0xff;
    writeFileSync(stored, bytes);
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
    expect(existsSync(stored)).toBe(false);
    // The same cache object, asked again: the version it serves is found without the file, and only the file is downloaded again.
    const before = (await host.requests()).filter((r) => r.path.endsWith(large.path)).length;
    expect(Buffer.from(await (await cache.match(`/models/${repo}/large.bin`))!.arrayBuffer()).equals(LARGE_ASSET)).toBe(true);
    expect((await host.requests()).filter((r) => r.path.endsWith(large.path)).length).toBe(before + 1);
    expect(readFileSync(stored).equals(LARGE_ASSET)).toBe(true);
  });

  test('a manifest signed by another key never reaches transformers.js (SIGNATURE_INVALID); the right key serves it', async () => {
    const { keygen, readSigningKey, signManifest } = await import('../../src/cli/sign.js');
    const keys = mkdtempSync(join(tmpdir(), 'ondevice-keys-'));
    try {
      const [ours, theirs] = [await keygen(join(keys, 'ours')), await keygen(join(keys, 'theirs'))];
      const publicKey = JSON.parse(readFileSync(ours.publicPath, 'utf8')) as JsonWebKey;
      const host = new LiveHost(server.url);
      await host.publish((await signManifest(manifests['1.0.0'] as never, await readSigningKey(theirs.privatePath))) as never);
      const errors: Array<{ code: string }> = [];
      const repo = freshRepo();
      const cache = await transformersCache({ models: { [repo]: host.url }, cacheDir, publicKey, onError: (e) => errors.push(e) });
      await expect(through(cache, repo)).rejects.toThrow();
      expect(errors[0]).toMatchObject({ code: 'SIGNATURE_INVALID' });
      // Nothing but the manifest was fetched.
      expect((await host.requests()).map((r) => r.path).filter((p) => !p.endsWith('manifest.json'))).toEqual([]);
      await host.publish((await signManifest(manifests['1.0.0'] as never, await readSigningKey(ours.privatePath))) as never);
      const trusted = freshRepo();
      expect(await through(await transformersCache({ models: { [trusted]: host.url }, cacheDir, publicKey }), trusted)).toEqual(await reference('v1'));
      expect(hubRequests).toEqual([]);
    } finally {
      rmSync(keys, { recursive: true, force: true });
    }
  });

  test('a revoked version is never served: the cached copy is passed over for the version that replaces it', async () => {
    const host = await hosting('1.0.0');
    const repo = freshRepo();
    await through(await transformersCache({ models: { [repo]: host.url }, cacheDir }), repo);
    await host.publish({ ...manifests['2.0.0'], revoked: ['1.0.0'] });
    const next = freshRepo();
    const cache = await transformersCache({ models: { [next]: host.url }, cacheDir, update: 'blocking' });
    expect(await through(cache, next)).toEqual(await reference('v2'));
  });

  test('under background, a revocation heard after the cached start: onUpdate says so, and the object serves none of that version from then on', async () => {
    const host = await hosting('1.0.0');
    const repo = freshRepo();
    await through(await transformersCache({ models: { [repo]: host.url }, cacheDir }), repo);
    await host.publish({ ...manifests['2.0.0'], revoked: ['1.0.0'] });
    let heard!: (info: unknown) => void;
    const update = new Promise((resolve) => (heard = resolve));
    const errors: Array<{ code: string }> = [];
    const next = freshRepo();
    const cache = await transformersCache({ models: { [next]: host.url }, cacheDir, onUpdate: (info) => heard(info), onError: (e) => errors.push(e) });
    expect((await cache.match(`/models/${next}/config.json`))?.status).toBe(200);
    expect(await update).toEqual({ repo: next, version: '2.0.0', previousVersion: '1.0.0', revoked: true });
    const after = await cache.match(`/models/${next}/tokenizer.json`);
    expect(after?.status).toBe(503);
    expect(errors).toEqual([expect.objectContaining({ code: 'VERSION_UNAVAILABLE', message: expect.stringMatching(/revoked.*make a new transformersCache\(\)/) })]);
    const fresh = freshRepo();
    expect(await through(await transformersCache({ models: { [fresh]: host.url }, cacheDir }), fresh)).toEqual(await reference('v2'));
  });
});

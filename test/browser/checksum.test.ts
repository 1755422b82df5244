/**
 * @file The warm-read check: a stored file carries the xxh64 of its bytes, taken when they were
 * stored; a warm start checks size and xxh64, and runs SHA-256 only if that fails. A checksum that
 * is wrong while the bytes are right (a damaged record) costs a SHA-256, not a download; bytes that
 * are wrong are still caught and fetched again (cache.test.ts alters a chunk).
 */
import { xxhash64 } from 'hash-wasm';
import { beforeEach, expect, test } from 'vitest';
import { loadModel, modelCache } from '../../src/index.js';
import { defaultCacheStore } from '../../src/cache/store.js';
import { quiet } from './helpers.js';
import { LiveHost, fileOf, onnxDigits, release } from './live.js';

beforeEach(async () => {
  await quiet();
  await modelCache.clear();
});

test('a stored file records the xxh64 of its bytes; a wrong checksum with right bytes is settled by SHA-256, with no download', async () => {
  const host = new LiveHost();
  const v1 = await release('release');
  await host.publish(v1);
  await (await loadModel(host.url, { backend: 'wasm' })).dispose();
  const store = defaultCacheStore();
  const { sha256 } = v1.variants.fp32.files[0]!;
  const record = (await store.getFile(sha256))!;
  const bytes = (await store.readFile(record))!;
  expect(record.xxh64).toBe(await xxhash64(bytes));

  // Damage only the checksum in the record: the bytes still hash to the manifest's SHA-256.
  await store.writeFile(sha256, bytes);
  const { set, createStore } = await import('idb-keyval');
  await set(`file:${sha256}`, { ...(await store.getFile(sha256))!, xxh64: '0000000000000000' }, createStore('ondevice-meta', 'meta'));
  const model = await loadModel(host.url, { backend: 'wasm', update: 'never' });
  expect(model.info.fromCache).toBe(true);
  expect(await onnxDigits.whichRelease(model)).toBe('1.0.0');
  await model.dispose();
  expect(await host.count(fileOf(v1))).toBe(1);
});

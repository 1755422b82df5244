/**
 * @file A large model (~300 MB, ONNX external data, generated at test time and never committed):
 * downloaded (its two files in parallel), hashed while downloading, cached in chunks, run; then
 * loaded again from the cache with no request for its files.
 */
import { expect, inject, test } from 'vitest';
import { loadModel, modelCache } from '../../src/index.js';
import { maxAbsDiff, server } from './helpers.js';

const large = inject('largeModel');

async function fileRequests(): Promise<number> {
  const log = (await (await fetch(`${server}/__requests`)).json()) as Array<{ path: string }>;
  return log.filter((r) => r.path.startsWith('/generated/large/') && !r.path.endsWith('manifest.json')).length;
}

test('downloads, verifies, caches and runs, then loads again from the cache without downloading', async () => {
  await modelCache.clear();
  const url = `${server}${large.path}`;
  const input = () => ({ x: { type: 'float32' as const, data: new Float32Array(large.n).fill(1), dims: [1, large.n] } });
  const before = await fileRequests();

  const first = await loadModel(url, { backend: 'wasm' });
  expect(first.info).toMatchObject({ fromCache: false, name: 'large' });
  const y1 = (await first.run(input()))['y']!.data as Float32Array;
  expect(maxAbsDiff(y1.slice(0, 16), large.head)).toBeLessThanOrEqual(1e-4);
  await first.dispose();
  expect((await fileRequests()) - before).toBe(2);
  expect((await modelCache.usage()).bytes).toBe(large.bytes);

  const second = await loadModel(url, { backend: 'wasm' });
  expect(second.info.fromCache).toBe(true);
  const y2 = (await second.run(input()))['y']!.data as Float32Array;
  expect(maxAbsDiff(y2.slice(0, 16), large.head)).toBeLessThanOrEqual(1e-4);
  await second.dispose();
  expect((await fileRequests()) - before).toBe(2);
  await modelCache.clear();
}, 180_000);

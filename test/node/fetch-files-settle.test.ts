/**
 * @file A version's download that fails on one file returns only once the other files' writes have
 * ended, still under their locks. WebKitGTK leaves an IndexedDB transaction cut by a worker's end
 * open for ever, so a write still running when a load or check had already failed (and the worker
 * was ended after it) stalled every later storage call of the origin: the WebKit stall of issue 25.
 * Real downloads from a real server on 127.0.0.1, the Node disk store; the test holds the one write
 * at a gate of its own (a CacheStore wrapper, an interface the library owns) and the failing file's
 * response until that write has begun, so nothing races.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { fileLock } from '../../src/cache/files.js';
import { ifUnlocked } from '../../src/cache/locks.js';
import type { CacheStore } from '../../src/cache/store.js';
import { diskCacheStore } from '../../src/node/disk-store.js';
import { createProgressEmitter } from '../../src/progress.js';
import { fetchFiles } from '../../src/update/fetch-version.js';
import { startModelServer } from '../support/model-server.mjs';

let root = '';
let server: Awaited<ReturnType<typeof startModelServer>>;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const good = new Uint8Array(50_000).map((_, i) => i % 251);
const served = new Uint8Array(40_000).fill(7);

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'ondevice-settle-'));
  writeFileSync(join(root, 'good.bin'), good);
  writeFileSync(join(root, 'bad.bin'), served);
  server = await startModelServer({ root });
});
afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

test('one file hashing wrong: fetchFiles rejects only after the other file is stored, and its lock is held until then', async () => {
  const store = diskCacheStore(mkdtempSync(join(tmpdir(), 'ondevice-settle-cache-')));
  let writing!: () => void;
  const writeBegun = new Promise<void>((resolve) => (writing = resolve));
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let written = false;
  const gated: CacheStore = {
    ...store,
    async writeFile(sha256, bytes, saved) {
      writing();
      await gate;
      const record = await store.writeFile(sha256, bytes, saved);
      written = true;
      return record;
    },
  };
  // The wrong file's response waits until the good file's write has begun.
  const fetchGated: typeof fetch = async (input, init) => {
    if (String(input).endsWith('bad.bin')) await writeBegun;
    return fetch(input, init);
  };
  const wanted = [
    { path: 'good.bin', url: `${server.url}/good.bin`, size: good.length, sha256: sha(good) },
    { path: 'bad.bin', url: `${server.url}/bad.bin`, size: served.length, sha256: sha(new Uint8Array(served.length).fill(8)) },
  ];
  let settled = false;
  const result = fetchFiles(wanted, { fetch: fetchGated, signal: undefined, progress: createProgressEmitter(undefined), store: gated }, async () => 'activated').finally(() => (settled = true));
  result.catch(() => undefined);
  await writeBegun;
  // The bad file fails while the good one's write is held: the call must not have returned yet.
  await new Promise((resolve) => setImmediate(resolve));
  await expect.poll(async () => (await fetch(`${server.url}/__requests`).then((r) => r.json()) as Array<{ path: string; completed: boolean }>).some((r) => r.path === '/bad.bin' && r.completed)).toBe(true);
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  expect(settled).toBe(false);
  // The good file's lock is still held (by the download), so no other context touches it meanwhile.
  expect(await ifUnlocked(store, fileLock(sha(good)), async () => 'free')).toBeUndefined();
  release();
  await expect(result).rejects.toMatchObject({ code: 'INTEGRITY_MISMATCH' });
  expect(written).toBe(true);
  expect((await store.getFile(sha(good)))?.size).toBe(good.length);
  expect(await ifUnlocked(store, fileLock(sha(good)), async () => 'free')).toBe('free');
});

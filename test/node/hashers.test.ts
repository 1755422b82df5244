/**
 * @file Hashers are lent and taken back (src/download/hashers.ts), not made per file: each hash-wasm
 * hasher is a WebAssembly instance with its own memory, and JavaScriptCore makes every memory past its
 * eighth in a process bounds-checked (where onnxruntime-web can trap). Counted here by the instances
 * WebAssembly makes while files are downloaded and read warm; and a hasher lent twice at once, or
 * given back twice, would show as a wrong digest (INTEGRITY_MISMATCH) in the interleaved reads.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test, vi } from 'vitest';
import { checkedStream } from '../../src/cache/read-stream.js';
import { lendHasher } from '../../src/download/hashers.js';
import { DEFAULT_RETRY, downloadResumable } from '../../src/download/resumable.js';
import { xxh64Hex } from '../../src/download/verify.js';
import { diskCacheStore } from '../../src/node/disk-store.js';

const dirs: string[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function storedFiles(count: number, size: number) {
  const dir = await mkdtemp(join(tmpdir(), 'ondevice-hashers-'));
  dirs.push(dir);
  const store = diskCacheStore(dir);
  const files = [];
  for (let i = 0; i < count; i++) {
    const bytes = new Uint8Array(randomBytes(size));
    await store.writeFile(sha(bytes), bytes);
    files.push({ bytes, ref: { path: `f${i}.onnx`, sha256: sha(bytes), size } });
  }
  return { store, files };
}

/** Counts from now on the WebAssembly instances made of hash-wasm's modules (the ones that export `Hash_Init`). */
function countHashers(): () => number {
  const spy = vi.spyOn(WebAssembly, 'instantiate');
  return () =>
    spy.mock.calls.filter(([source]) => source instanceof WebAssembly.Module && WebAssembly.Module.exports(source).some((e) => e.name === 'Hash_Init')).length;
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

test('ten warm reads one after another make at most one hasher, and each checks its own bytes', async () => {
  const { store, files } = await storedFiles(10, 40 * 1024);
  const instantiate = countHashers();
  for (const { bytes, ref } of files) {
    expect(await readAll(checkedStream(store, ref, { label: ref.path }))).toEqual(bytes);
  }
  // Made per read before hashers were lent: 10.
  expect(instantiate()).toBeLessThanOrEqual(1);
});

test('a cancelled read and a read that finds altered bytes give their hasher back', async () => {
  const { store, files } = await storedFiles(2, 64 * 1024);
  const [one, two] = files as [(typeof files)[0], (typeof files)[0]];
  expect(await readAll(checkedStream(store, one.ref, { label: 'warm' }))).toEqual(one.bytes); // one hasher exists and is idle
  // A store whose copy of the second file was altered (same size, one byte flipped).
  const flipped = two.bytes.slice();
  flipped[1000]! ^= 1;
  const altered = {
    ...store,
    async openFile() {
      return new Response(flipped).body!;
    },
    async deleteFile() {},
  };
  const instantiate = countHashers();
  for (let round = 0; round < 5; round++) {
    const reader = checkedStream(store, one.ref, { label: 'cancelled' }).getReader();
    await reader.read();
    await reader.cancel();
    await expect(readAll(checkedStream(altered, two.ref, { label: 'altered' }))).rejects.toMatchObject({ code: 'INTEGRITY_MISMATCH' });
  }
  expect(instantiate()).toBe(0);
});

test('reads interleaved chunk by chunk each get a hasher of their own and all check out', async () => {
  const { store, files } = await storedFiles(3, 256 * 1024);
  const readers = files.map(({ ref }) => checkedStream(store, ref, { label: ref.path }).getReader());
  const got: Uint8Array[][] = files.map(() => []);
  const done = files.map(() => false);
  while (done.includes(false)) {
    for (const [i, reader] of readers.entries()) {
      if (done[i]) continue;
      const { done: end, value } = await reader.read();
      if (end) done[i] = true;
      else got[i]!.push(value);
    }
  }
  for (const [i, { bytes }] of files.entries()) {
    expect(Buffer.concat(got[i]!)).toEqual(Buffer.from(bytes));
  }
});

test('downloads one after another reuse one hasher and each digest is its own file', async () => {
  const bodies = Array.from({ length: 8 }, (_, i) => new Uint8Array(randomBytes(20_000 + i)));
  const fetchBody = (async (input: RequestInfo | URL) => {
    const bytes = bodies[Number(String(input).split('/').pop())]!;
    return new Response(bytes, { headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length), etag: '"x"' } });
  }) as typeof fetch;
  await downloadResumable({ url: 'http://127.0.0.1/0', size: bodies[0]!.length, fetch: fetchBody, signal: undefined, retry: DEFAULT_RETRY, onBytes: () => {} });
  const instantiate = countHashers();
  for (const [i, bytes] of bodies.entries()) {
    const got = await downloadResumable({ url: `http://127.0.0.1/${i}`, size: bytes.length, fetch: fetchBody, signal: undefined, retry: DEFAULT_RETRY, onBytes: () => {} });
    expect(got.sha256).toBe(sha(bytes));
  }
  // A download of the wrong size fails and still gives its hasher back.
  await expect(
    downloadResumable({ url: 'http://127.0.0.1/1', size: bodies[1]!.length + 5, fetch: fetchBody, signal: undefined, retry: { ...DEFAULT_RETRY, retries: 0 }, onBytes: () => {} }),
  ).rejects.toMatchObject({ code: 'INTEGRITY_MISMATCH' });
  await downloadResumable({ url: 'http://127.0.0.1/2', size: bodies[2]!.length, fetch: fetchBody, signal: undefined, retry: DEFAULT_RETRY, onBytes: () => {} });
  expect(instantiate()).toBe(0);
});

test('a lease given back twice is lent only once, and a lent hasher starts from a reset state', async () => {
  const a = await lendHasher('sha256');
  a.hasher.update(new Uint8Array([1, 2, 3])); // left half-fed
  a.release();
  a.release();
  const b = await lendHasher('sha256');
  const c = await lendHasher('sha256');
  expect(b.hasher).not.toBe(c.hasher);
  b.hasher.update(new TextEncoder().encode('abc'));
  expect(b.hasher.digest('hex')).toBe(sha(new TextEncoder().encode('abc')));
  b.release();
  c.release();
});

test('the whole-buffer checksum uses the lent hasher too: right digests, no instance of its own', async () => {
  await xxh64Hex(new Uint8Array(1));
  const instantiate = countHashers();
  expect(await xxh64Hex(new TextEncoder().encode('abc'))).toBe('44bc2cf5ad770999'); // XXH64("abc", seed 0)
  expect(await xxh64Hex(new Uint8Array(0))).toBe('ef46db3751d8e999'); // XXH64 of nothing
  const held = await lendHasher('xxh64'); // in use, so the next checksum needs a hasher of its own
  expect(await xxh64Hex(new TextEncoder().encode('abc'))).toBe('44bc2cf5ad770999');
  held.release();
  expect(instantiate()).toBe(1);
});

/**
 * @file A cached file read as a checked stream (src/cache/read-stream.ts), on Node's disk store: a
 * reader that cancels while a read is under way has not found an altered file, and the stored copy
 * must stay. The store's own stream is held at a gate between its chunks, so the cancel always
 * arrives mid-read, whatever the machine's speed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { checkedStream } from '../../src/cache/read-stream.js';
import type { CacheStore } from '../../src/cache/store.js';
import type { OndeviceError } from '../../src/errors.js';
import { diskCacheStore } from '../../src/node/disk-store.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

test('a stream cancelled while a chunk is being read leaves the stored file in place, reports nothing, and lets it go', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ondevice-read-stream-'));
  dirs.push(dir);
  const disk = diskCacheStore(dir);
  const bytes = new Uint8Array(randomBytes(96 * 1024));
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  await disk.writeFile(sha256, bytes);

  // The store's stream gives its first chunk, then holds the second until the test lets it go.
  let asked!: () => void;
  const secondAsked = new Promise<void>((resolve) => (asked = resolve));
  const deleted: string[] = [];
  const store: CacheStore = {
    ...disk,
    async openFile() {
      let sent = 0;
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (sent === 0) {
            controller.enqueue(bytes.subarray(0, 32 * 1024));
            sent++;
            return;
          }
          asked();
          await new Promise(() => {}); // held: only a cancel ends this read
        },
      }, { highWaterMark: 0 });
    },
    async deleteFile(sha) {
      deleted.push(sha);
      await disk.deleteFile(sha);
    },
  };
  const errors: OndeviceError[] = [];
  const reader = checkedStream(store, { path: 'model.onnx', sha256, size: bytes.length }, { label: 'model.onnx', onError: (e) => errors.push(e) }).getReader();

  const first = reader.read(); // opens; the first chunk is held back until the next arrives
  await secondAsked;
  await reader.cancel();
  expect(await first).toEqual({ done: true, value: undefined });

  // The cancel settles once the read under way has ended: nothing is left to run. Before that was
  // so, the read went on to judge the 32 kB it had as an altered file (INTEGRITY_MISMATCH, onError)
  // and delete it if its lock was free by then, a few ticks after the cancel; the pause below is
  // there to catch that, should it come
  // back (a pause can only hide the fault on a slow machine, never fail a correct stream).
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(deleted).toEqual([]);
  expect(errors).toEqual([]);
  expect((await disk.getFile(sha256))?.size).toBe(bytes.length);
  expect(await disk.readFile((await disk.getFile(sha256))!)).toEqual(bytes);
});

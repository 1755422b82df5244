/**
 * @file File bytes in IndexedDB, in fixed-size chunks (a 1 GB model never needs a 1 GB value to
 * store or read): the store where OPFS is missing or refuses (WebKit builds without it, private
 * modes, ephemeral sessions), or where the app asks for it (`storage: 'indexeddb'`).
 */
import { delMany, get, getMany, keys, set, type UseStore } from 'idb-keyval';
import type { ByteStore, StoredBytes } from './bytes.js';

/** Big enough that a 100 MB model is 25 values, small enough that storing one never needs much memory. */
export const CHUNK_SIZE = 4 * 1024 * 1024;

const chunkKey = (sha256: string, i: number) => `${sha256}/${i}`;
const chunkCount = (size: number, chunkSize = CHUNK_SIZE) => Math.ceil(size / chunkSize);

export function idbByteStore(chunks: UseStore): ByteStore & { readSingles(files: readonly StoredBytes[]): Promise<Array<Uint8Array | undefined>> } {
  /** Writes chunks `from`…; the bytes start at chunk 0. */
  const writeChunks = async (sha256: string, bytes: Uint8Array, from: number, count: number) => {
    const scratch = chunkWriter(bytes.length);
    for (let i = from; i < count; i++) await set(chunkKey(sha256, i), scratch(bytes.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE)), chunks);
  };
  const ownedKeys = async (sha256: string) => (await keys<string>(chunks)).filter((k) => k.startsWith(`${sha256}/`));
  return {
    kind: 'indexeddb',
    async write(sha256, bytes, savedBytes) {
      const count = Math.max(1, chunkCount(bytes.length));
      try {
        await writeChunks(sha256, bytes, Math.min(count, Math.floor(savedBytes / CHUNK_SIZE)), count);
      } catch (error) {
        await delMany(Array.from({ length: count }, (_, i) => chunkKey(sha256, i)), chunks).catch(() => undefined);
        throw error;
      }
    },
    async read(file) {
      const chunkSize = file.chunkSize ?? CHUNK_SIZE;
      const count = Math.max(1, chunkCount(file.size, chunkSize));
      const out = new Uint8Array(file.size);
      // Two chunks a transaction, three transactions in flight: the browser process reads the next
      // chunks while this thread copies the last ones, and memory stays a few chunks above the result.
      const batch = 2;
      const window = 3;
      const starts = Array.from({ length: Math.ceil(count / batch) }, (_, k) => k * batch);
      let ok = true;
      const readBatch = async (first: number) => {
        const ids = Array.from({ length: Math.min(batch, count - first) }, (_, k) => chunkKey(file.sha256, first + k));
        const values = await getMany<ArrayBuffer | undefined>(ids, chunks);
        for (const [k, value] of values.entries()) {
          const offset = (first + k) * chunkSize;
          if (!(value instanceof ArrayBuffer) || offset + value.byteLength > file.size) ok = false;
          else out.set(new Uint8Array(value), offset);
        }
      };
      const readers = Array.from({ length: Math.min(window, starts.length) }, async () => {
        for (let next = starts.shift(); next !== undefined && ok; next = starts.shift()) await readBatch(next);
      });
      await Promise.all(readers);
      return ok ? out : undefined;
    },
    /** Files of one chunk each, every chunk in one transaction; `undefined` for one missing or short. */
    async readSingles(files) {
      if (files.length === 0) return [];
      const values = await getMany<ArrayBuffer | undefined>(files.map((f) => chunkKey(f.sha256, 0)), chunks);
      return values.map((value, i) => (value instanceof ArrayBuffer && value.byteLength === files[i]!.size ? new Uint8Array(value) : undefined));
    },
    async open(file) {
      const chunkSize = file.chunkSize ?? CHUNK_SIZE;
      const count = Math.max(1, chunkCount(file.size, chunkSize));
      // One chunk a pull, the next one read while this one is delivered: memory stays two chunks.
      const chunk = (i: number) => get<ArrayBuffer | undefined>(chunkKey(file.sha256, i), chunks);
      const first = await chunk(0);
      if (!(first instanceof ArrayBuffer)) return undefined;
      let next = 0;
      let ahead: Promise<ArrayBuffer | undefined> = Promise.resolve(first);
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          const value = await ahead;
          const offset = next * chunkSize;
          const expected = Math.min(chunkSize, file.size - offset);
          if (!(value instanceof ArrayBuffer) || value.byteLength < expected) {
            controller.error(new Error(`chunk ${next} of ${file.sha256} is missing or short`));
            return;
          }
          next += 1;
          if (next < count) {
            ahead = chunk(next);
            ahead.catch(() => undefined);
          }
          controller.enqueue(new Uint8Array(value, 0, expected));
          if (next >= count) controller.close();
        },
      });
    },
    // Whole chunks saved by an earlier checkpoint of the same download are not written again.
    writePartial: (sha256, bytes, from) => writeChunks(sha256, bytes, Math.floor(from / CHUNK_SIZE), chunkCount(bytes.length)),
    async readPartial(sha256, received) {
      const values = await getMany<ArrayBuffer | undefined>(Array.from({ length: chunkCount(received) }, (_, i) => chunkKey(sha256, i)), chunks);
      const bytes = new Uint8Array(received);
      for (const [i, value] of values.entries()) {
        if (!(value instanceof ArrayBuffer)) return undefined;
        bytes.set(new Uint8Array(value).subarray(0, received - i * CHUNK_SIZE), i * CHUNK_SIZE);
      }
      return bytes;
    },
    async delete(sha256) {
      await delMany(await ownedKeys(sha256), chunks);
    },
    async owners() {
      return new Set((await keys<string>(chunks)).map((k) => k.slice(0, k.indexOf('/'))));
    },
  };
}

/**
 * The value to store for one chunk. Storing a view would clone its whole underlying buffer, and a
 * fresh slice per chunk leaves a model's worth of garbage behind; IndexedDB clones the value inside
 * `put()`, which idb-keyval has called by the time `set()` resolves, so one scratch buffer serves
 * every full chunk (only a short last chunk gets its own).
 */
function chunkWriter(size: number): (part: Uint8Array) => ArrayBuffer {
  const scratch = new Uint8Array(Math.min(CHUNK_SIZE, size));
  return (part) => {
    if (part.length !== scratch.length) return part.slice().buffer;
    scratch.set(part);
    return scratch.buffer;
  };
}

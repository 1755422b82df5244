/**
 * @file The cache's storage, on idb-keyval custom stores: model and file records in one database,
 * file bytes in fixed-size chunks in another (a 1 GB model never needs a 1 GB value to store or read).
 * The same code runs in the worker and in the page: IndexedDB is shared by every context of an origin.
 */
import { createStore, del, delMany, entries, get, getMany, keys, set, update, type UseStore } from 'idb-keyval';
import { xxh64Hex } from '../download/verify.js';
import { OndeviceError } from '../errors.js';
import type { FileRecord, ModelRecord } from './records.js';

/** Big enough that a 100 MB model is 25 values, small enough that storing one never needs much memory. */
export const CHUNK_SIZE = 4 * 1024 * 1024;

export interface CacheStore {
  getModel(url: string): Promise<ModelRecord | undefined>;
  /** Read-modify-write in one IndexedDB transaction, so tabs never lose each other's updates. */
  updateModel(url: string, change: (record: ModelRecord | undefined) => ModelRecord | undefined): Promise<void>;
  deleteModel(url: string): Promise<void>;
  listModels(): Promise<ModelRecord[]>;
  getFile(sha256: string): Promise<FileRecord | undefined>;
  listFiles(): Promise<FileRecord[]>;
  /**
   * Stores the bytes in chunks, then the file record. On failure the chunks written are removed.
   * The first `savedBytes` (whole chunks only) are already stored, by download checkpoints.
   */
  writeFile(sha256: string, bytes: Uint8Array, savedBytes?: number): Promise<FileRecord>;
  /** The whole file, or `undefined` if a chunk is missing. */
  readFile(file: FileRecord): Promise<Uint8Array | undefined>;
  deleteFile(sha256: string): Promise<void>;
  /** Hashes that have chunks stored (with or without a file record). */
  chunkOwners(): Promise<Set<string>>;
  /**
   * Keeps what an interrupted download received, for a later `Range` request. Chunks already saved
   * for the same prefix are not written again.
   */
  savePartial(sha256: string, partial: { bytes: Uint8Array; validator: string | null }): Promise<void>;
  loadPartial(sha256: string): Promise<{ bytes: Uint8Array; validator: string | null; savedAt: number } | undefined>;
  /** What interrupted downloads keep: each file's hash and the bytes received. */
  listPartials(): Promise<Array<{ sha256: string; received: number }>>;
  /** When a partial was last saved (`undefined` if there is none), without reading its bytes. */
  partialSavedAt(sha256: string): Promise<number | undefined>;
  /** Forgets the partial record (its chunks are overwritten by `writeFile` or collected). */
  deletePartial(sha256: string): Promise<void>;
  /**
   * A random id made once for this device and origin (the staged-rollout bucket); it never leaves
   * the device. Clearing the cache makes a new one.
   */
  deviceId(): Promise<string>;
}

const MODEL = 'model:';
const FILE = 'file:';
const PARTIAL = 'partial:';

interface PartialRecord {
  received: number;
  chunkSize: number;
  validator: string | null;
  savedAt: number;
}

let defaultStore: CacheStore | undefined;

/** The library's default store, created on first use (importing this module touches no browser API). */
export function defaultCacheStore(): CacheStore {
  defaultStore ??= idbCacheStore(createStore('ondevice-meta', 'meta'), createStore('ondevice-chunks', 'chunks'));
  return defaultStore;
}

export function idbCacheStore(meta: UseStore, chunks: UseStore): CacheStore {
  const chunkKey = (sha256: string, i: number) => `${sha256}/${i}`;
  return {
    getModel: (url) => get<ModelRecord>(MODEL + url, meta),
    async updateModel(url, change) {
      let removed = false;
      await guard(
        update<ModelRecord | undefined>(
          MODEL + url,
          (old) => {
            const next = change(old);
            removed = next === undefined;
            return next;
          },
          meta,
        ),
      );
      if (removed) await del(MODEL + url, meta);
    },
    deleteModel: (url) => del(MODEL + url, meta),
    async listModels() {
      return (await entries<string, ModelRecord>(meta)).filter(([k, v]) => k.startsWith(MODEL) && v !== undefined).map(([, v]) => v);
    },
    getFile: (sha256) => get<FileRecord>(FILE + sha256, meta),
    async listFiles() {
      return (await entries<string, FileRecord>(meta)).filter(([k]) => k.startsWith(FILE)).map(([, v]) => v);
    },
    async writeFile(sha256, bytes, savedBytes = 0) {
      const count = Math.max(1, Math.ceil(bytes.length / CHUNK_SIZE));
      const scratch = chunkWriter(bytes.length);
      const from = Math.min(count, Math.floor(savedBytes / CHUNK_SIZE));
      try {
        for (let i = from; i < count; i++) await set(chunkKey(sha256, i), scratch(bytes.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE)), chunks);
        const record: FileRecord = { sha256, size: bytes.length, chunkSize: CHUNK_SIZE, chunks: count, storedAt: Date.now(), xxh64: await xxh64Hex(bytes) };
        await set(FILE + sha256, record, meta);
        return record;
      } catch (error) {
        await delMany(Array.from({ length: count }, (_, i) => chunkKey(sha256, i)), chunks).catch(() => undefined);
        throw storageError(error);
      }
    },
    async readFile(file) {
      const out = new Uint8Array(file.size);
      // Two chunks a transaction, three transactions in flight: the browser process reads the next
      // chunks while this thread copies the last ones, and memory stays a few chunks above the result.
      const batch = 2;
      const window = 3;
      const starts = Array.from({ length: Math.ceil(file.chunks / batch) }, (_, k) => k * batch);
      let ok = true;
      const readBatch = async (first: number) => {
        const ids = Array.from({ length: Math.min(batch, file.chunks - first) }, (_, k) => chunkKey(file.sha256, first + k));
        const values = await getMany<ArrayBuffer | undefined>(ids, chunks);
        for (const [k, value] of values.entries()) {
          const offset = (first + k) * file.chunkSize;
          if (!(value instanceof ArrayBuffer) || offset + value.byteLength > file.size) ok = false;
          else out.set(new Uint8Array(value), offset);
        }
      };
      const workers = Array.from({ length: Math.min(window, starts.length) }, async () => {
        for (let next = starts.shift(); next !== undefined && ok; next = starts.shift()) await readBatch(next);
      });
      await Promise.all(workers);
      return ok ? out : undefined;
    },
    async deleteFile(sha256) {
      const record = await get<FileRecord>(FILE + sha256, meta);
      await del(FILE + sha256, meta);
      const owned = (await keys<string>(chunks)).filter((k) => k.startsWith(`${sha256}/`));
      await delMany(record ? [...new Set([...owned, ...Array.from({ length: record.chunks }, (_, i) => chunkKey(sha256, i))])] : owned, chunks);
    },
    async chunkOwners() {
      return new Set((await keys<string>(chunks)).map((k) => k.slice(0, k.indexOf('/'))));
    },
    async savePartial(sha256, { bytes, validator }) {
      const count = Math.ceil(bytes.length / CHUNK_SIZE);
      const previous = await get<PartialRecord>(PARTIAL + sha256, meta);
      // Whole chunks of an earlier checkpoint with the same validator are already there.
      const from = previous && previous.validator === validator ? Math.floor(Math.min(previous.received, bytes.length) / CHUNK_SIZE) : 0;
      const scratch = chunkWriter(bytes.length);
      for (let i = from; i < count; i++) await set(chunkKey(sha256, i), scratch(bytes.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE)), chunks);
      await set(PARTIAL + sha256, { received: bytes.length, chunkSize: CHUNK_SIZE, validator, savedAt: Date.now() } satisfies PartialRecord, meta);
    },
    async loadPartial(sha256) {
      const record = await get<PartialRecord>(PARTIAL + sha256, meta);
      if (!record) return undefined;
      const count = Math.ceil(record.received / record.chunkSize);
      const values = await getMany<ArrayBuffer | undefined>(Array.from({ length: count }, (_, i) => chunkKey(sha256, i)), chunks);
      const bytes = new Uint8Array(record.received);
      for (const [i, value] of values.entries()) {
        if (!(value instanceof ArrayBuffer)) return undefined;
        bytes.set(new Uint8Array(value).subarray(0, record.received - i * record.chunkSize), i * record.chunkSize);
      }
      return { bytes, validator: record.validator, savedAt: record.savedAt };
    },
    async listPartials() {
      return (await entries<string, PartialRecord>(meta)).filter(([k]) => k.startsWith(PARTIAL)).map(([k, v]) => ({ sha256: k.slice(PARTIAL.length), received: v.received }));
    },
    partialSavedAt: async (sha256) => (await get<PartialRecord>(PARTIAL + sha256, meta))?.savedAt,
    deletePartial: (sha256) => del(PARTIAL + sha256, meta),
    async deviceId() {
      // Made in one transaction: two contexts asking at once end up with the same id.
      await update<string>(DEVICE_ID, (id) => id ?? randomId(), meta);
      return (await get<string>(DEVICE_ID, meta))!;
    },
  };
}

const DEVICE_ID = 'device-id';

function randomId(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
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

async function guard<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    throw storageError(error);
  }
}

/** Running out of space becomes `QUOTA_EXCEEDED`; other storage failures pass through as they are. */
export function storageError(error: unknown): unknown {
  if (error instanceof OndeviceError) return error;
  const name = error instanceof Error || error instanceof DOMException ? error.name : '';
  if (name === 'QuotaExceededError') {
    return new OndeviceError('QUOTA_EXCEEDED', 'The device ran out of storage while caching the model; nothing of it was activated. Free space, or set maxCacheBytes so older models are evicted.', {
      cause: error,
    });
  }
  return error;
}

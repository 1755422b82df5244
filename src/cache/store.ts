/**
 * @file The cache's database, on idb-keyval custom stores: model and file records, partial
 * downloads and the device id in one IndexedDB database; each file's bytes in a byte store (OPFS
 * files where this context can write them, else IndexedDB chunks; see bytes.ts), named in its record.
 * The same code runs in the worker and in the page: both stores are shared by every context of an origin.
 */
import { createStore, del, entries, get, getMany, promisifyRequest, set, update, type UseStore } from 'idb-keyval';
import { xxh64Hex } from '../download/verify.js';
import { OndeviceError } from '../errors.js';
import type { BrowserStoreKind, ByteStore } from './bytes.js';
import { CHUNK_SIZE, idbByteStore } from './bytes-idb.js';
import { opfsByteStore } from './bytes-opfs.js';
import { webLocks, type LockManagerLike } from './locks.js';
import type { FileRecord, ModelRecord } from './records.js';

export { CHUNK_SIZE } from './bytes-idb.js';
export type { BrowserStoreKind, StoreKind } from './bytes.js';

/** Where new files' bytes go: `'auto'` is OPFS where this context can write it, else IndexedDB. */
export type StoragePreference = 'auto' | BrowserStoreKind;

export interface CacheStore {
  /** The locks every context sharing this cache takes (see locks.ts); none: each context works alone. */
  readonly locks?: LockManagerLike | undefined;
  getModel(url: string): Promise<ModelRecord | undefined>;
  /** Read-modify-write in one IndexedDB transaction, so tabs never lose each other's updates. */
  updateModel(url: string, change: (record: ModelRecord | undefined) => ModelRecord | undefined): Promise<void>;
  deleteModel(url: string): Promise<void>;
  listModels(): Promise<ModelRecord[]>;
  getFile(sha256: string): Promise<FileRecord | undefined>;
  listFiles(): Promise<FileRecord[]>;
  /**
   * Stores the bytes in this context's byte store, then (once they are durable) the file record. On
   * failure nothing of them is left. The first `savedBytes` may already be stored by download checkpoints.
   */
  writeFile(sha256: string, bytes: Uint8Array, savedBytes?: number): Promise<FileRecord>;
  /** The whole file, from the store its record names, or `undefined` if it is missing or short. */
  readFile(file: FileRecord): Promise<Uint8Array | undefined>;
  /**
   * Several small files in fewer round trips than a `getFile` and a `readFile` each: IndexedDB reads
   * every record in one transaction and the bytes of the files it holds in one chunk in a second.
   * Each is `undefined` if it is missing or short, its record alone (no `bytes`) if its bytes are
   * elsewhere (OPFS): read those with `readFile`. Optional: a store without it is read file by file.
   */
  readSmallFiles?(sha256s: readonly string[]): Promise<Array<{ record: FileRecord; bytes?: Uint8Array } | undefined>>;
  /**
   * The file as a stream read from its store as it is pulled (an OPFS `File`, IndexedDB chunk by
   * chunk, a file on disk), or `undefined` if it is missing or short. Unchecked: cache/read-stream.ts checks it.
   */
  openFile(file: FileRecord): Promise<ReadableStream<Uint8Array> | undefined>;
  /** Deletes the file's record and its bytes (whole or partial) from every store. */
  deleteFile(sha256: string): Promise<void>;
  /** Hashes that have bytes stored in either store (with or without a file record). */
  byteOwners(): Promise<Set<string>>;
  /** The store new files go to from this context (under `'auto'`, those over `SMALL_FILE`; smaller ones go to IndexedDB). */
  byteStore(): Promise<import("./bytes.js").StoreKind>;
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
  /** Forgets the partial record (its bytes are replaced by `writeFile`, or collected). */
  deletePartial(sha256: string): Promise<void>;
  /**
   * A random id made once for this device and origin (the staged-rollout bucket); it never leaves
   * the device. Clearing the cache makes a new one.
   */
  deviceId(): Promise<string>;
  /**
   * What writes in progress hold outside the records (the disk cache's temp files): their bytes, for
   * `usage()`, and `collect`, which deletes those whose writer has ended (a process killed mid-write).
   */
  readonly strays?: { bytes(): Promise<number>; collect(): Promise<void> };
}

/**
 * Under `'auto'`, a file of at most this many bytes keeps them in IndexedDB: one read in the database
 * the record already lives in, where OPFS costs three round trips (a handle, a `File`, its bytes)
 * that outweigh a small file's bytes. Configs, tokenizer configs, vocabularies and the graph of a
 * model whose weights are external data are such files. Bigger files go to OPFS (no copy through
 * structured clone, no 4 MiB chunks).
 */
export const SMALL_FILE = 1024 * 1024;

const MODEL = 'model:';
const FILE = 'file:';
const PARTIAL = 'partial:';

interface PartialRecord {
  received: number;
  chunkSize: number;
  validator: string | null;
  savedAt: number;
  /** Absent in records from before OPFS: IndexedDB. */
  store?: BrowserStoreKind;
}

const defaultStores = new Map<StoragePreference, CacheStore>();
let defaultDatabases: { meta: UseStore; chunks: UseStore } | undefined;

/** The library's default store, created on first use (importing this module touches no browser API). */
export function defaultCacheStore(storage: StoragePreference = 'auto'): CacheStore {
  defaultDatabases ??= { meta: createStore('ondevice-meta', 'meta'), chunks: createStore('ondevice-chunks', 'chunks') };
  if (!defaultStores.has(storage)) defaultStores.set(storage, idbCacheStore(defaultDatabases.meta, defaultDatabases.chunks, { storage }));
  return defaultStores.get(storage)!;
}

export interface CacheStoreOptions {
  /** @default 'auto' */
  storage?: StoragePreference;
  /** The OPFS directory for file bytes; one per database, since collection deletes what its records do not name. @default 'ondevice' */
  directory?: string;
}

export function idbCacheStore(meta: UseStore, chunks: UseStore, options: CacheStoreOptions = {}): CacheStore {
  const { storage = 'auto', directory = 'ondevice' } = options;
  const stores = { indexeddb: idbByteStore(chunks), opfs: opfsByteStore(directory) } satisfies Record<BrowserStoreKind, ByteStore>;
  let chosen: Promise<BrowserStoreKind> | undefined;
  // Decided once per context: a private mode or an ephemeral session refuses OPFS for good.
  const target = () => (chosen ??= storage === 'auto' ? stores.opfs.writable().then((ok) => (ok ? 'opfs' : 'indexeddb')) : Promise.resolve(storage));
  const holder = (kind: FileRecord['store'] | BrowserStoreKind | undefined) => stores[kind === 'opfs' ? 'opfs' : 'indexeddb'];
  const other = (kind: BrowserStoreKind) => stores[kind === 'opfs' ? 'indexeddb' : 'opfs'];
  return {
    locks: webLocks(),
    getModel: (url) => get<ModelRecord>(MODEL + url, meta),
    // One transaction for the read, the change and the write or delete: a record another context
    // writes right after it is never deleted by it (idb-keyval's update() cannot delete, and a del()
    // after it ran in a second transaction).
    updateModel: (url, change) =>
      guard(
        meta('readwrite', (objects) => {
          const key = MODEL + url;
          let failure: unknown;
          const read = objects.get(key);
          read.onsuccess = () => {
            try {
              const next = change(read.result as ModelRecord | undefined);
              if (next === undefined) objects.delete(key);
              else objects.put(next, key);
            } catch (error) {
              objects.transaction.abort();
              failure = error;
            }
          };
          return promisifyRequest(objects.transaction).then(() => undefined, (error: unknown) => Promise.reject(failure ?? error));
        }),
      ),
    deleteModel: (url) => del(MODEL + url, meta),
    async listModels() {
      return (await entries<string, ModelRecord>(meta)).filter(([k, v]) => k.startsWith(MODEL) && v !== undefined).map(([, v]) => v);
    },
    getFile: (sha256) => get<FileRecord>(FILE + sha256, meta),
    async listFiles() {
      return (await entries<string, FileRecord>(meta)).filter(([k]) => k.startsWith(FILE)).map(([, v]) => v);
    },
    async writeFile(sha256, bytes, savedBytes = 0) {
      const kind = storage === 'auto' && bytes.length <= SMALL_FILE ? 'indexeddb' : await target();
      const partial = await get<PartialRecord>(PARTIAL + sha256, meta);
      // A checkpoint's prefix counts only where it was saved.
      const saved = (partial?.store ?? 'indexeddb') === kind ? savedBytes : 0;
      try {
        await stores[kind].write(sha256, bytes, saved);
        const record: FileRecord = { sha256, size: bytes.length, storedAt: Date.now(), xxh64: await xxh64Hex(bytes), ...(kind === 'opfs' ? { store: kind } : { chunkSize: CHUNK_SIZE, chunks: Math.max(1, Math.ceil(bytes.length / CHUNK_SIZE)) }) };
        await set(FILE + sha256, record, meta);
        // What a download kept in the other store is of no use now.
        if (partial && (partial.store ?? 'indexeddb') !== kind) await other(kind).delete(sha256).catch(() => undefined);
        return record;
      } catch (error) {
        await stores[kind].delete(sha256).catch(() => undefined);
        throw storageError(error);
      }
    },
    readFile: (file) => holder(file.store).read(file),
    async readSmallFiles(sha256s) {
      const records = await getMany<FileRecord | undefined>(sha256s.map((sha256) => FILE + sha256), meta);
      // Files of one IndexedDB chunk (every small file 'auto' keeps there) in one transaction.
      const single = records.map((r) => r !== undefined && r.store === undefined && r.size <= (r.chunkSize ?? CHUNK_SIZE));
      const singles = records.filter((_, i) => single[i]) as FileRecord[];
      const chunks = await stores.indexeddb.readSingles(singles);
      let next = 0;
      return records.map((record, i) => {
        if (!record || !single[i]) return record && { record };
        const bytes = chunks[next++];
        return bytes && { record, bytes };
      });
    },
    openFile: (file) => holder(file.store).open(file),
    async deleteFile(sha256) {
      await del(FILE + sha256, meta);
      await Promise.all(Object.values(stores).map((s) => s.delete(sha256).catch((error: unknown) => (s.kind === 'opfs' ? undefined : Promise.reject(error)))));
    },
    async byteOwners() {
      // A context without OPFS cannot hold any there.
      const [chunked, files] = await Promise.all([stores.indexeddb.owners(), stores.opfs.owners().catch(() => new Set<string>())]);
      return new Set([...chunked, ...files]);
    },
    byteStore: target,
    async savePartial(sha256, { bytes, validator }) {
      const previous = await get<PartialRecord>(PARTIAL + sha256, meta);
      const kind = previous && previous.validator === validator ? (previous.store ?? 'indexeddb') : await target();
      // Bytes of an earlier checkpoint with the same validator are already there.
      const from = previous && previous.validator === validator ? Math.min(previous.received, bytes.length) : 0;
      await stores[kind].writePartial(sha256, bytes, from);
      await set(PARTIAL + sha256, { received: bytes.length, chunkSize: CHUNK_SIZE, validator, savedAt: Date.now(), store: kind } satisfies PartialRecord, meta);
    },
    async loadPartial(sha256) {
      const record = await get<PartialRecord>(PARTIAL + sha256, meta);
      if (!record) return undefined;
      const bytes = await holder(record.store).readPartial(sha256, record.received);
      return bytes && { bytes, validator: record.validator, savedAt: record.savedAt };
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

/**
 * @file A version's files in the cache: read back (holding each file's lock shared, so garbage
 * collection in another context cannot take the bytes mid-read), checked against their SHA-256, and
 * stored once verified.
 */
import type { Fetch } from '../download/fetch-file.js';
import type { RetryOptions } from '../download/resumable.js';
import { sha256Hex, xxh64Hex } from '../download/verify.js';
import type { ProgressEmitter } from '../progress.js';
import { ifUnlocked, withLocks } from './locks.js';
import type { FileRecord, FileRef } from './records.js';
import { SMALL_FILE, storageError, type CacheStore } from './store.js';

/** A model file's bytes, by the path the manifest names it with (external data is looked up by it). */
export interface ModelFileBytes {
  path: string;
  bytes: Uint8Array;
}

export interface FilesContext {
  fetch: Fetch;
  signal: AbortSignal | undefined;
  progress: ProgressEmitter;
  /** `undefined`: no cache here (or it failed); files are downloaded and not stored. */
  store: CacheStore | undefined;
  /** @default DEFAULT_RETRY */
  retry?: RetryOptions | undefined;
  /**
   * Files above this size of a cached version are found, not read: their records are checked to be
   * there, and their bytes are read (and checked) later, as streams (read-stream.ts); smaller ones are
   * read as always. `transformersCache`'s resolves. @default undefined: every file is read
   */
  lazyAbove?: number | undefined;
}

/** A cached file is missing, short, or hashes wrong: the version must be downloaded again. */
export class CacheMiss extends Error {}

export interface WantedFile extends FileRef {
  url: string;
}

export interface FetchedFiles {
  files: ModelFileBytes[];
  /** Every byte came from the cache. */
  fromCache: boolean;
}

/** The lock a file's readers hold shared and its writers (and garbage collection) exclusive. */
export const fileLock = (sha256: string): string => `file:${sha256}`;

/** A stored file as read back: its bytes, when it was stored, and its checksum (if the record has one). */
export interface StoredRead {
  bytes: Uint8Array;
  storedAt: number;
  xxh64: string | undefined;
}

/** Reads a stored file without checking it; `undefined` if it is missing or short. */
export async function readStored(store: CacheStore, file: FileRef): Promise<StoredRead | undefined> {
  const record = await store.getFile(file.sha256);
  if (!record || record.size !== file.size) return undefined;
  const bytes = await store.readFile(record);
  return bytes && { bytes, storedAt: record.storedAt, xxh64: record.xxh64 };
}

function storedRead(file: FileRef, record: FileRecord, bytes: Uint8Array): StoredRead | undefined {
  if (record.size !== file.size || bytes.length !== file.size) return undefined;
  return { bytes, storedAt: record.storedAt, xxh64: record.xxh64 };
}

/**
 * Checks stored bytes. `fast`: the size (checked on read) and the xxh64 taken when they were stored
 * suffice, and SHA-256 runs only if that fails (the threat is storage corruption; see
 * docs/decisions.md). An altered file is deleted (so that it is downloaded again) and is a
 * `CacheMiss`; a failure to hash at all is not the bytes' fault and passes through as it is.
 */
export async function checkStored(store: CacheStore, file: FileRef, read: StoredRead, fast = false): Promise<void> {
  if (fast && read.xxh64 !== undefined && (await xxh64Hex(read.bytes)) === read.xxh64) return;
  if ((await sha256Hex(read.bytes)) === file.sha256) return;
  // Delete only the copy that was read: another context may have stored a good one meanwhile. Under a
  // download's own exclusive lock (fetchFiles) the delete is skipped: the download overwrites the file.
  await ifUnlocked(store, fileLock(file.sha256), async () => {
    if ((await store.getFile(file.sha256))?.storedAt === read.storedAt) await store.deleteFile(file.sha256);
  }).catch(() => undefined);
  throw new CacheMiss(file.sha256);
}

/** A stored file, checked before it is returned (for the paths that activate what they read). */
export async function readStoredFile(store: CacheStore, file: FileRef): Promise<Uint8Array | undefined> {
  const read = await readStored(store, file);
  if (!read) return undefined;
  return checkStored(store, file, read).then(
    () => read.bytes,
    () => undefined,
  );
}

export interface CachedFiles extends FetchedFiles {
  /**
   * Settles once every file has checked right (size and xxh64, else SHA-256); rejects with
   * `CacheMiss` if one has not. The caller builds the session meanwhile.
   */
  verified: Promise<void>;
}

/**
 * Reads a cached version with no network; `CacheMiss` if a file is not there. Each file is read
 * holding its lock shared (nothing is written), so no other context deletes it mid-read; except the
 * small files the store reads in one transaction (`readSmallFiles`): their bytes are named by their
 * hash, so they never change, only vanish, and one transaction sees them whole or not at all.
 */
export async function readCachedFiles(wanted: readonly WantedFile[], context: FilesContext): Promise<CachedFiles> {
  const store = context.store;
  if (!store) throw new CacheMiss('no cache');
  const total = wanted.reduce((sum, f) => sum + f.size, 0);
  let done = 0;
  const counted = (file: WantedFile, read: StoredRead | undefined): StoredRead => {
    if (!read) throw new CacheMiss(file.sha256);
    done += read.bytes.length;
    context.progress.emit({ phase: 'cache', url: file.url, loaded: done, total });
    return read;
  };
  // The files of a variant (a model.json and its shards, or a model and its external data) are read
  // at once: the storage reads the next while this thread copies the last.
  const locked = (files: readonly WantedFile[]) =>
    files.length === 0 ? Promise.resolve([]) : withLocks(store, files.map((f) => fileLock(f.sha256)), context.signal, () => Promise.all(files.map(async (f) => counted(f, await readStored(store, f)))), 'shared');
  // Small files (a config, a tokenizer, a graph whose weights are external data) together: two round
  // trips for all of them, where a lock, a record and a read each cost one per file.
  const small = store.readSmallFiles ? wanted.filter((f) => f.size <= SMALL_FILE) : [];
  const others = small.length > 1 ? wanted.filter((f) => f.size > SMALL_FILE) : wanted;
  const [batch, read] = await Promise.all([others === wanted ? undefined : store.readSmallFiles!(small.map((f) => f.sha256)), locked(others)]);
  const reads = new Map(others.map((file, i) => [file, read[i]!]));
  const elsewhere = !batch
    ? []
    : small.filter((file, i) => {
        const got = batch[i];
        if (!got) throw new CacheMiss(file.sha256);
        if (!got.bytes) return true;
        reads.set(file, counted(file, storedRead(file, got.record, got.bytes)));
        return false;
      });
  // A small file the store keeps elsewhere (OPFS, under storage: 'opfs') is read as any other.
  (await locked(elsewhere)).forEach((r, i) => reads.set(elsewhere[i]!, r));
  const ordered = wanted.map((file) => reads.get(file)!);
  const verified = Promise.all(wanted.map((file, i) => checkStored(store, file, ordered[i]!, true))).then(() => undefined);
  verified.catch(() => undefined);
  return { files: wanted.map((file, i) => ({ path: file.path, bytes: ordered[i]!.bytes })), fromCache: true, verified };
}

/**
 * A cached version's files, those above `above` bytes found by their records with no byte read (see
 * `FilesContext.lazyAbove`), the others read: `CacheMiss` if one is missing or a found one has another
 * size. Only the files read come back (by path).
 */
export async function readSmallCachedFiles(wanted: readonly WantedFile[], above: number, context: FilesContext): Promise<CachedFiles> {
  const store = context.store;
  if (!store) throw new CacheMiss('no cache');
  const big = wanted.filter((f) => f.size > above);
  const small = wanted.filter((f) => f.size <= above);
  const [records, read] = await Promise.all([Promise.all(big.map((file) => store.getFile(file.sha256))), readCachedFiles(small, context)]);
  big.forEach((file, i) => {
    if (records[i]?.size !== file.size) throw new CacheMiss(file.sha256);
  });
  return read;
}

/** Stores verified bytes; a full disk is `QUOTA_EXCEEDED`, any other storage failure turns the cache off for this load. */
export async function storeFile(file: FileRef, bytes: Uint8Array, context: FilesContext, savedBytes = 0): Promise<void> {
  if (!context.store) return;
  try {
    await context.store.writeFile(file.sha256, bytes, savedBytes);
    await context.store.deletePartial(file.sha256).catch(() => undefined);
  } catch (error) {
    const mapped = storageError(error);
    if (mapped !== error || (mapped instanceof Error && mapped.name === 'OndeviceError')) throw mapped;
    // IndexedDB is unusable here (private mode, a broken database): run without a cache.
    context.store = undefined;
  }
}

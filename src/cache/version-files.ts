/**
 * @file A version's files: read from the cache when stored and hashing right, downloaded otherwise,
 * each under its Web Lock so that one context on the device downloads a file once.
 * Verify before store, store before activate.
 */
import type { Fetch } from '../download/fetch-file.js';
import { DEFAULT_RETRY, downloadResumable, type Downloaded, type RetryOptions } from '../download/resumable.js';
import { integrityError, sha256Hex } from '../download/verify.js';
import { abortError } from '../errors.js';
import type { ProgressEmitter } from '../pipeline/progress.js';
import type { ModelFileBytes } from '../runtime/types.js';
import { withLock } from '../update/coordination.js';
import type { FileRef } from './records.js';
import { CHUNK_SIZE, storageError, type CacheStore } from './store.js';

export interface FilesContext {
  fetch: Fetch;
  signal: AbortSignal | undefined;
  progress: ProgressEmitter;
  /** `undefined`: no cache here (or it failed); files are downloaded and not stored. */
  store: CacheStore | undefined;
  /** @default DEFAULT_RETRY */
  retry?: RetryOptions | undefined;
}

/** A file the caller asked for offline is not in the cache, or is not intact. */
export class CacheMiss extends Error {}

export interface WantedFile extends FileRef {
  url: string;
}

export interface FetchedFiles {
  files: ModelFileBytes[];
  /** Every byte came from the cache. */
  fromCache: boolean;
}

/** Reads a stored file without checking it; `undefined` if it is missing or short. */
async function readStored(store: CacheStore, file: FileRef): Promise<Uint8Array | undefined> {
  const record = await store.getFile(file.sha256);
  if (!record || record.size !== file.size) return undefined;
  return store.readFile(record);
}

/** Hashes stored bytes; an altered file is deleted (so that it is downloaded again) and is a `CacheMiss`. */
async function checkStored(store: CacheStore, file: FileRef, bytes: Uint8Array): Promise<void> {
  if ((await sha256Hex(bytes)) === file.sha256) return;
  await store.deleteFile(file.sha256).catch(() => undefined);
  throw new CacheMiss(file.sha256);
}

/** A stored file, checked before it is returned (for the paths that activate what they read). */
async function readStoredFile(store: CacheStore, file: FileRef): Promise<Uint8Array | undefined> {
  const bytes = await readStored(store, file);
  if (!bytes) return undefined;
  return checkStored(store, file, bytes).then(
    () => bytes,
    () => undefined,
  );
}

export interface CachedFiles extends FetchedFiles {
  /**
   * Settles once every file has hashed right; rejects with `CacheMiss` if one has not. WebCrypto
   * copies its input and hashes off this thread, so the caller can build the session meanwhile.
   */
  verified: Promise<void>;
}

/** Reads a cached version with no network and no locks (nothing is written); `CacheMiss` if a file is not there. */
export async function readCachedFiles(wanted: readonly WantedFile[], context: FilesContext): Promise<CachedFiles> {
  const store = context.store;
  if (!store) throw new CacheMiss('no cache');
  const total = wanted.reduce((sum, f) => sum + f.size, 0);
  let done = 0;
  const files: ModelFileBytes[] = [];
  const checks: Array<Promise<void>> = [];
  for (const file of wanted) {
    const bytes = await readStored(store, file);
    if (!bytes) throw new CacheMiss(file.sha256);
    checks.push(checkStored(store, file, bytes));
    done += bytes.length;
    context.progress.emit({ phase: 'cache', url: file.url, loaded: done, total });
    files.push({ path: file.path, bytes });
  }
  const verified = Promise.all(checks).then(() => undefined);
  verified.catch(() => undefined);
  return { files, fromCache: true, verified };
}

/**
 * Gets every file, holding all their locks (taken in hash order, so contexts cannot deadlock)
 * until `then` has run, so that a concurrent garbage collection never takes a file being activated.
 */
/** Files of one version downloaded at once (external data, TF.js shards): a small limit. */
const PARALLEL_FILES = 3;

async function inParallel<T>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      await task(items[index]!, index);
    }
  });
  await Promise.all(lanes);
}

export async function fetchFiles<T>(wanted: readonly WantedFile[], context: FilesContext, then: (fetched: FetchedFiles) => Promise<T>): Promise<T> {
  const names = [...new Set(wanted.map((f) => `file:${f.sha256}`))].sort();
  const run = async (): Promise<T> => {
    const total = wanted.reduce((sum, f) => sum + f.size, 0);
    const received = wanted.map(() => 0);
    let stored = 0;
    // 100 % is announced once every byte is stored, not when the last one arrives.
    const loaded = () => {
      const sum = received.reduce((a, b) => a + b, 0);
      return stored < wanted.length && sum >= total ? Math.max(0, total - 1) : sum;
    };
    let fromCache = true;
    const files: ModelFileBytes[] = [];
    // One failure stops the other downloads (each keeps what it received, for a resume).
    const stop = new AbortController();
    const onAbort = () => stop.abort(context.signal?.reason);
    context.signal?.addEventListener('abort', onAbort, { once: true });
    const inner = { ...context, signal: stop.signal };
    try {
      await inParallel(wanted, PARALLEL_FILES, async (file, i) => {
        let bytes = context.store ? await readStoredFile(context.store, file).catch(() => undefined) : undefined;
        if (bytes) {
          received[i] = bytes.length;
          stored++;
          context.progress.emit({ phase: 'cache', url: file.url, loaded: loaded(), total });
        } else {
          fromCache = false;
          const got = await downloadVerified(file, inner, (n) => {
            received[i] = n;
            context.progress.emit({ phase: 'download', url: file.url, loaded: loaded(), total, fileLoaded: n, fileTotal: file.size });
          });
          bytes = got.bytes;
          await storeFile(file, bytes, context, got.checkpointed);
          stored++;
          if (stored === wanted.length) context.progress.emit({ phase: 'download', url: file.url, loaded: total, total, fileLoaded: file.size, fileTotal: file.size });
        }
        files[i] = { path: file.path, bytes };
      }).catch((error: unknown) => {
        stop.abort(error);
        throw error;
      });
    } finally {
      context.signal?.removeEventListener('abort', onAbort);
    }
    return then({ files, fromCache });
  };
  return names.reduceRight<() => Promise<T>>((inner, name) => () => withLock(name, context.signal, inner), run)().catch((error: unknown) => {
    if (context.signal?.aborted) throw abortError(context.signal);
    throw error;
  });
}

/**
 * Downloads a file (resuming what an interrupted download left, retrying what breaks) and checks its
 * SHA-256. A resumed file that hashes wrong is downloaded once more from its first byte: the kept
 * prefix may have been the wrong one.
 */
async function downloadVerified(file: WantedFile, context: FilesContext, onBytes: (received: number) => void): Promise<Downloaded> {
  const store = context.store;
  const resume = store ? await store.loadPartial(file.sha256).catch(() => undefined) : undefined;
  const job = (from: typeof resume) =>
    downloadResumable({
      url: file.url,
      size: file.size,
      fetch: context.fetch,
      signal: context.signal,
      retry: context.retry ?? DEFAULT_RETRY,
      onBytes,
      resume: from,
      onInterrupted: async (partial) => {
        await store?.savePartial(file.sha256, partial);
      },
      // A closed tab runs no code: what has arrived is saved as it arrives, a chunk at a time.
      onCheckpoint: async (partial) => {
        await store?.savePartial(file.sha256, partial);
      },
      checkpointBytes: CHUNK_SIZE,
    });
  let got = await job(resume);
  // Hashed while downloading: verifying is a comparison.
  context.progress.emit({ phase: 'verify', url: file.url });
  if (resume && got.sha256 !== file.sha256) {
    await store?.deletePartial(file.sha256).catch(() => undefined);
    got = await job(undefined);
  }
  if (got.sha256 !== file.sha256) throw integrityError(file.url, file.sha256, got.sha256);
  return got;
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

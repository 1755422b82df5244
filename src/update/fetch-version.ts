/**
 * @file Gets a version's files: each from the cache when stored and hashing right, downloaded
 * otherwise (resumed, retried, hashed as it arrives), every file under its exclusive Web Lock so that
 * one context on the device downloads a file once and garbage collection never takes a file that is
 * being activated. Verify before store, store before activate.
 */
import { fileLock, readStoredFile, storeFile, type FetchedFiles, type FilesContext, type ModelFileBytes, type WantedFile } from '../cache/files.js';
import { withLocks } from '../cache/locks.js';
import { CHUNK_SIZE } from '../cache/store.js';
import { DEFAULT_RETRY, downloadResumable, type Downloaded } from '../download/resumable.js';
import { integrityError } from '../download/verify.js';
import { abortError } from '../errors.js';

/** Files of one version downloaded at once (external data, TF.js shards): a small limit. */
const PARALLEL_FILES = 3;

/**
 * Runs `task` on every item, `limit` at a time. The first failure is told to `onFailure` at once (to
 * stop the others) and thrown only once every task has ended: a task still writing (a file stored, a
 * partial saved) finishes under the locks its caller holds, and nothing runs on after the call has
 * returned. (A write cut by a worker's end, after a failed load returned, left WebKitGTK's IndexedDB
 * stalled for every later call of the origin.)
 */
async function inParallel<T>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<void>, onFailure: (error: unknown) => void): Promise<void> {
  let next = 0;
  let failed: { error: unknown } | undefined;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && !failed) {
      const index = next++;
      try {
        await task(items[index]!, index);
      } catch (error) {
        if (!failed) {
          failed = { error };
          onFailure(error);
        }
      }
    }
  });
  await Promise.all(lanes);
  if (failed) throw failed.error;
}

/**
 * Gets every file, holding all their locks (taken in hash order, so contexts cannot deadlock)
 * until `then` (the activation) has run.
 */
export async function fetchFiles<T>(wanted: readonly WantedFile[], context: FilesContext, then: (fetched: FetchedFiles) => Promise<T>): Promise<T> {
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
      }, (error) => stop.abort(error));
    } finally {
      context.signal?.removeEventListener('abort', onAbort);
    }
    return then({ files, fromCache });
  };
  return withLocks(context.store, wanted.map((f) => fileLock(f.sha256)), context.signal, run).catch((error: unknown) => {
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

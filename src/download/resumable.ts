/**
 * @file Downloads that survive real networks: retries with exponential backoff and jitter on
 * network errors, 5xx, 429 (honouring Retry-After) and stalls; resumption with `Range` guarded by
 * `If-Range`, so bytes of two different files are never spliced (and the SHA-256 check would catch
 * it if a server ignored If-Range); and the received prefix handed back on abort or failure, so that
 * a later load resumes instead of starting over. The bytes are hashed as they arrive (hash-wasm,
 * incremental SHA-256), so a large file is never held twice to be hashed after the download.
 */
import { OndeviceError, abortError, isOndeviceError } from '../errors.js';
import type { IHasher } from 'hash-wasm';
import { contentLength, htmlInsteadOf, isHtml, openUrl, type Fetch } from './fetch-file.js';
import { lendHasher } from './hashers.js';

export interface RetryOptions {
  /** Attempts after the first. @default 5 */
  retries: number;
  /** First backoff; doubles each time, with jitter. @default 500 */
  baseDelayMs: number;
  /** @default 10_000 */
  maxDelayMs: number;
  /** A response that delivers no byte for this long is a stall, retried like a network error. @default 15_000 */
  stallTimeoutMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { retries: 5, baseDelayMs: 500, maxDelayMs: 10_000, stallTimeoutMs: 15_000 };

/** What was received of a file before an interruption, and the validator that makes resuming safe. */
export interface ReceivedPrefix {
  bytes: Uint8Array;
  validator: string | null;
}

export interface ResumableDownload {
  url: string;
  size: number;
  fetch: Fetch;
  signal: AbortSignal | undefined;
  retry: RetryOptions;
  /** Bytes received so far (including a resumed prefix). */
  onBytes: (received: number) => void;
  /** A prefix saved by an earlier, interrupted download. */
  resume?: ReceivedPrefix | undefined;
  /** Called with what was received when the download stops short (abort, or out of retries). */
  onInterrupted?: (partial: ReceivedPrefix) => Promise<void>;
  /**
   * Called each time another `checkpointBytes` have arrived, with everything received so far: a
   * closed tab or a killed worker then still leaves a prefix to resume from.
   */
  onCheckpoint?: (partial: ReceivedPrefix) => Promise<void>;
  checkpointBytes?: number;
  /** A response already opened for this file (its first attempt), e.g. by a conditional request. */
  first?: Response | undefined;
}

/** A body that ended early or went quiet: resumable. */
class BrokenOff extends Error {}

/** Where a download stands across its attempts; the hash always covers bytes [0, received). */
interface Progress {
  received: number;
  validator: string | null;
  hasher: IHasher;
  /** Bytes [0, checkpointed) are saved (by a checkpoint or the resumed prefix) and belong to this download. */
  checkpointed: number;
}

export interface Downloaded {
  bytes: Uint8Array;
  /** SHA-256 of `bytes`, lowercase hex. */
  sha256: string;
  /** How many leading bytes are already saved (so need not be stored again). */
  checkpointed: number;
}

export async function downloadResumable(job: ResumableDownload): Promise<Downloaded> {
  const buffer = allocate(job.size, job.url);
  const lease = await lendHasher('sha256');
  try {
    return await downloadWith(job, buffer, { received: 0, validator: null, hasher: lease.hasher, checkpointed: 0 });
  } finally {
    lease.release();
  }
}

async function downloadWith(job: ResumableDownload, buffer: Uint8Array, state: Progress): Promise<Downloaded> {
  // A prefix as long as the file is no prefix: it says nothing about what is missing.
  if (job.resume && job.resume.bytes.length < job.size && job.resume.validator) {
    buffer.set(job.resume.bytes);
    state.hasher.update(job.resume.bytes);
    state.received = job.resume.bytes.length;
    state.checkpointed = job.resume.bytes.length;
    state.validator = job.resume.validator;
  }
  for (let attempt = 0; ; attempt++) {
    try {
      await attemptOnce(job, buffer, state);
      if (state.received !== job.size) throw sizeMismatch(job.url, job.size, state.received);
      return { bytes: buffer, sha256: state.hasher.digest('hex'), checkpointed: state.checkpointed };
    } catch (error) {
      if (isOndeviceError(error, 'DOWNLOAD_FAILED') && error.details['status'] === 416 && state.received > 0) {
        // The server cannot serve the rest from where we were: start the file over.
        restart(state);
        state.validator = null;
        continue;
      }
      const retryable = error instanceof BrokenOff || isRetryableStatus(error);
      if (job.signal?.aborted || !retryable || attempt >= job.retry.retries) {
        const { received, validator } = state;
        // Only an interruption leaves a prefix worth resuming; a wrong file (size, HTML) does not.
        const interrupted = job.signal?.aborted || retryable;
        if (interrupted && received > 0 && received < job.size) await job.onInterrupted?.({ bytes: buffer.slice(0, received), validator }).catch(() => undefined);
        if (job.signal?.aborted) throw abortError(job.signal);
        if (!retryable) throw error;
        const why = error instanceof Error ? error.message : String(error);
        throw new OndeviceError('DOWNLOAD_FAILED', `The download of ${job.url} failed ${attempt + 1} times (last: ${why}); ${received} of ${job.size} bytes are kept for the next try.`, {
          details: { url: job.url, received, attempts: attempt + 1, ...(isOndeviceError(error) && error.details) },
          cause: error,
        });
      }
      await sleep(delayFor(error, attempt, job.retry), job.signal);
    }
  }
}

/** One request: resumes at `state.received` when a validator allows it, and advances `state`. */
async function attemptOnce(job: ResumableDownload, buffer: Uint8Array, state: Progress): Promise<void> {
  const headers: Record<string, string> = {};
  if (state.received > 0 && state.validator) {
    headers['Range'] = `bytes=${state.received}-`;
    headers['If-Range'] = state.validator;
  } else restart(state);
  const opened = job.first;
  job.first = undefined;
  const response = opened && state.received === 0 ? opened : await openUrl(job.url, job.fetch, job.signal, { cache: 'no-store', headers });
  if (response.status === 206) {
    const start = Number(/^bytes (\d+)-/.exec(response.headers.get('content-range') ?? '')?.[1] ?? Number.NaN);
    if (start !== state.received) {
      await response.body?.cancel().catch(() => undefined);
      throw new BrokenOff(`the server resumed at byte ${start}, not ${state.received}`);
    }
  } else {
    // 200: the server sent the whole file (no Range support, or the file changed): start over.
    restart(state);
  }
  state.validator = strongValidator(response);
  if (state.received === 0 && isHtml(response, undefined)) throw htmlInsteadOf('model', job.url, response);
  if (!response.body) return;
  const reader = bodyReader(response.body);
  const start = state.received;
  let first = state.received === 0;
  try {
    for (;;) {
      const { done, value } = await readWithin(reader, job.retry.stallTimeoutMs, job.signal);
      if (done || !value) break;
      if (first) {
        first = false;
        if (isHtml(response, value)) throw htmlInsteadOf('model', job.url, response);
      }
      if (state.received + value.length > buffer.length) throw sizeMismatch(job.url, job.size, `more than ${job.size}`);
      buffer.set(value, state.received);
      state.hasher.update(value);
      const before = state.received;
      state.received += value.length;
      job.onBytes(state.received);
      const every = job.checkpointBytes ?? 0;
      if (job.onCheckpoint && every > 0 && Math.floor(state.received / every) > Math.floor(before / every) && state.received < job.size) {
        const upTo = Math.floor(state.received / every) * every;
        const saved = await job.onCheckpoint({ bytes: buffer.subarray(0, upTo), validator: state.validator }).then(
          () => true,
          () => false,
        );
        if (saved) state.checkpointed = upTo;
      }
    }
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    if (error instanceof OndeviceError) throw error;
    // Every byte is in and only the end of the stream failed (a Content-Length too large): done;
    // the SHA-256 check decides whether they are the right bytes.
    if (state.received === job.size && !job.signal?.aborted) return;
    if (error instanceof BrokenOff) throw error;
    if (job.signal?.aborted) throw abortError(job.signal);
    throw new BrokenOff(error instanceof Error ? error.message : String(error));
  }
  if (state.received < job.size) {
    // A body that ended cleanly with all it announced is a smaller file, not a broken connection.
    if (contentLength(response) === state.received - start) throw sizeMismatch(job.url, job.size, state.received);
    throw new BrokenOff(`the body ended after ${state.received} of ${job.size} bytes`);
  }
}

/** One buffer for the whole file; a size the engine cannot allocate is `QUOTA_EXCEEDED`, not a raw RangeError. */
export function allocate(size: number, url: string): Uint8Array {
  try {
    return new Uint8Array(size);
  } catch (error) {
    throw new OndeviceError('QUOTA_EXCEEDED', `This device cannot hold ${url} in memory (${size} bytes). Use a smaller variant of the model.`, {
      details: { url, size },
      cause: error,
    });
  }
}

function restart(state: Progress): void {
  state.received = 0;
  state.checkpointed = 0;
  state.hasher.init();
}

/** If-Range needs a strong validator: a strong ETag, else Last-Modified (weak ETags are not allowed). */
function strongValidator(response: Response): string | null {
  const etag = response.headers.get('etag');
  if (etag && !etag.startsWith('W/')) return etag;
  return response.headers.get('last-modified') ?? etag;
}

interface ChunkReader {
  read(): Promise<ReadableStreamReadResult<Uint8Array>>;
  cancel(): Promise<void>;
}

/**
 * Reads the body into one reused 1 MiB buffer (BYOB) where the browser allows it: the default reader
 * allocates a new array per network chunk, a model's worth of garbage by the end of a download. The
 * caller copies each chunk out before the next read.
 */
function bodyReader(body: ReadableStream<Uint8Array>): ChunkReader {
  let byob: ReadableStreamBYOBReader;
  try {
    byob = body.getReader({ mode: 'byob' });
  } catch {
    return body.getReader();
  }
  let scratch = new Uint8Array(1 << 20);
  return {
    async read() {
      const result = await byob.read(scratch);
      // The buffer came back transferred: keep using it.
      if (result.value) scratch = new Uint8Array(result.value.buffer);
      return result.done ? { done: true, value: undefined } : { done: false, value: result.value! };
    },
    cancel: () => byob.cancel(),
  };
}

async function readWithin(reader: ChunkReader, ms: number, signal: AbortSignal | undefined): Promise<ReadableStreamReadResult<Uint8Array>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BrokenOff(`no byte arrived for ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([reader.read(), stalled]);
  } finally {
    clearTimeout(timer);
    if (signal?.aborted) await reader.cancel().catch(() => undefined);
  }
}

function isRetryableStatus(error: unknown): boolean {
  if (!isOndeviceError(error, 'DOWNLOAD_FAILED')) return false;
  const status = error.details['status'];
  // No status: the network failed before an answer.
  return typeof status !== 'number' || status >= 500 || status === 429 || status === 408;
}

function delayFor(error: unknown, attempt: number, retry: RetryOptions): number {
  const retryAfter = isOndeviceError(error) ? retryAfterMs(error.details['retryAfter']) : undefined;
  if (retryAfter !== undefined) return Math.min(retryAfter, 60_000);
  const backoff = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** attempt);
  // Full jitter on the upper half: devices that failed together do not retry together.
  return backoff / 2 + Math.random() * (backoff / 2);
}

function retryAfterMs(value: unknown): number | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function sizeMismatch(url: string, expected: number, actual: number | string): OndeviceError {
  return new OndeviceError('INTEGRITY_MISMATCH', `${url} has ${actual} bytes where the manifest says ${expected}. The host serves a different file than the manifest describes: republish the release.`, {
    details: { url, expectedSize: expected, actualSize: actual },
  });
}

/** @file HTTP for model files: one request, clear errors for bad answers, the body streamed into one buffer. */
import { OndeviceError, abortError } from '../errors.js';

export type Fetch = typeof globalThis.fetch;

/** Sends the request; network failures and non-2xx answers become `DOWNLOAD_FAILED` (or `ABORTED`). */
export async function openUrl(url: string, fetchFn: Fetch, signal: AbortSignal | undefined, init: RequestInit = {}): Promise<Response> {
  let response: Response;
  try {
    response = await fetchFn(url, { ...init, signal: signal ?? null, credentials: 'same-origin' });
  } catch (error) {
    if (signal?.aborted) throw abortError(signal);
    throw new OndeviceError('DOWNLOAD_FAILED', `Could not reach ${url} (${describe(error)}). Check the URL and the network, and that the host allows this origin (CORS).`, {
      details: { url },
      cause: error,
    });
  }
  // 304 answers a conditional request the caller made itself; the caller handles it.
  if (!response.ok && response.status !== 304) {
    await response.body?.cancel().catch(() => undefined);
    const retryAfter = response.headers.get('retry-after');
    throw new OndeviceError('DOWNLOAD_FAILED', `Downloading ${url} failed with HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}. Check that the file is published at that URL.`, {
      details: { url, status: response.status, ...(retryAfter !== null && { retryAfter }) },
    });
  }
  return response;
}

/** True when the answer is an HTML page, such as a dev server's index.html fallback for a missing file. */
export function isHtml(response: Response, firstBytes: Uint8Array | undefined): boolean {
  if (/^text\/html\b/i.test(response.headers.get('content-type') ?? '')) return true;
  if (!firstBytes) return false;
  const head = new TextDecoder().decode(firstBytes.subarray(0, 64)).replace(/^\uFEFF?\s*/, '').toLowerCase();
  return head.startsWith('<!doctype html') || head.startsWith('<html');
}

export function htmlInsteadOf(what: 'model' | 'manifest', url: string, response: Response): OndeviceError {
  const code = what === 'model' ? 'MODEL_INVALID' : 'MANIFEST_INVALID';
  return new OndeviceError(code, `${url} answered an HTML page (HTTP ${response.status}) where the ${what} should be; dev servers do that for files that do not exist. Check the path.`, {
    details: { url, status: response.status, contentType: response.headers.get('content-type') },
  });
}

export interface ReadBodyOptions {
  url: string;
  /** The size the manifest promises; more or fewer bytes is an `INTEGRITY_MISMATCH`. */
  expectedSize: number | undefined;
  signal: AbortSignal | undefined;
  onBytes: (received: number) => void;
  /** Inspects the first chunk before anything else is read (e.g. to refuse an HTML page). */
  onFirstChunk?: (chunk: Uint8Array) => void;
}

/**
 * Reads the body into a single `Uint8Array`. With a known size it fills one preallocated buffer,
 * so the bytes are held once, not as chunks plus a joined copy.
 */
export async function readBody(response: Response, options: ReadBodyOptions): Promise<Uint8Array> {
  const { url, expectedSize, signal } = options;
  const sizeHint = expectedSize ?? contentLength(response);
  const sink = sizeHint === undefined ? new GrowingSink() : new FixedSink(sizeHint, expectedSize !== undefined);
  const reader = response.body?.getReader();
  if (!reader) return new Uint8Array(0);
  let first = true;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (first) {
        first = false;
        options.onFirstChunk?.(value);
      }
      if (!sink.push(value)) throw sizeMismatch(url, expectedSize ?? 0, `more than ${expectedSize ?? 0}`);
      options.onBytes(sink.length);
    }
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    if (error instanceof OndeviceError) throw error;
    if (signal?.aborted) throw abortError(signal);
    throw new OndeviceError('DOWNLOAD_FAILED', `The download of ${url} broke off after ${sink.length} bytes (${describe(error)}). Try again.`, {
      details: { url, received: sink.length },
      cause: error,
    });
  }
  if (expectedSize !== undefined && sink.length !== expectedSize) throw sizeMismatch(url, expectedSize, sink.length);
  return sink.bytes();
}

function sizeMismatch(url: string, expected: number, actual: number | string): OndeviceError {
  return new OndeviceError('INTEGRITY_MISMATCH', `${url} has ${actual} bytes where the manifest says ${expected}. The host serves a different file than the manifest describes: republish the release.`, {
    details: { url, expectedSize: expected, actualSize: actual },
  });
}

/** `Content-Length` counts encoded bytes; it only sizes the decoded body when there is no encoding. */
export function contentLength(response: Response): number | undefined {
  const encoding = response.headers.get('content-encoding');
  if (encoding && encoding !== 'identity') return undefined;
  const value = Number(response.headers.get('content-length') ?? Number.NaN);
  return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

interface Sink {
  readonly length: number;
  push(chunk: Uint8Array): boolean;
  bytes(): Uint8Array;
}

class FixedSink implements Sink {
  length = 0;
  #buffer: Uint8Array;
  #strict: boolean;
  #overflow: GrowingSink | undefined;

  constructor(size: number, strict: boolean) {
    this.#buffer = new Uint8Array(size);
    this.#strict = strict;
  }

  push(chunk: Uint8Array): boolean {
    if (this.#overflow) return this.#pushOverflow(chunk);
    if (this.length + chunk.length > this.#buffer.length) {
      if (this.#strict) return false;
      // A wrong Content-Length: fall back to growing, keeping what we have.
      this.#overflow = new GrowingSink();
      this.#overflow.push(this.#buffer.subarray(0, this.length));
      return this.#pushOverflow(chunk);
    }
    this.#buffer.set(chunk, this.length);
    this.length += chunk.length;
    return true;
  }

  #pushOverflow(chunk: Uint8Array): boolean {
    this.#overflow!.push(chunk);
    this.length = this.#overflow!.length;
    return true;
  }

  bytes(): Uint8Array {
    if (this.#overflow) return this.#overflow.bytes();
    return this.length === this.#buffer.length ? this.#buffer : this.#buffer.slice(0, this.length);
  }
}

class GrowingSink implements Sink {
  length = 0;
  #chunks: Uint8Array[] = [];

  push(chunk: Uint8Array): boolean {
    this.#chunks.push(chunk);
    this.length += chunk.length;
    return true;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const chunk of this.#chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    this.#chunks = [];
    return out;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

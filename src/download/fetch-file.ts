/** @file HTTP for model files: one request, clear errors for bad answers, a body of unknown size read whole. */
import { OndeviceError, abortError, isOndeviceError } from '../errors.js';

export type Fetch = typeof globalThis.fetch;

/** Sends the request; network failures and non-2xx answers become `DOWNLOAD_FAILED` (or `ABORTED`). */
export async function openUrl(url: string, fetchFn: Fetch, signal: AbortSignal | undefined, init: RequestInit = {}): Promise<Response> {
  let response: Response;
  try {
    response = await fetchFn(url, { ...init, signal: signal ?? null, credentials: 'same-origin' });
  } catch (error) {
    if (signal?.aborted) throw abortError(signal);
    // A fetch of our own (Node's file: URLs) that already says what is wrong.
    if (isOndeviceError(error)) throw error;
    // A device that knows it is offline says so, rather than listing every other cause.
    const offline = typeof navigator !== 'undefined' && navigator.onLine === false;
    const message = offline
      ? `Could not reach ${url}: this device is offline. Load again once it is back online; a version already cached starts without the network.`
      : `Could not reach ${url} (${describe(error)}). The host is down or unreachable, the URL is wrong, or the host does not allow this origin (CORS).`;
    throw new OndeviceError('DOWNLOAD_FAILED', message, { details: { url, offline }, cause: error });
  }
  // The library asks only the host the app named: a redirect to another origin is refused (the
  // request was made, but none of its bytes are used).
  if (response.url && new URL(response.url).origin !== new URL(url).origin) {
    await response.body?.cancel().catch(() => undefined);
    throw new OndeviceError('DOWNLOAD_FAILED', `${url} redirected to another origin (${new URL(response.url).origin}); ondevice only downloads from the model host the app named. Serve the files from the manifest's host.`, {
      details: { url, redirectedTo: response.url },
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
  signal: AbortSignal | undefined;
  onBytes: (received: number) => void;
  /** Inspects the first chunk before anything else is read (e.g. to refuse an HTML page). */
  onFirstChunk?: (chunk: Uint8Array) => void;
}

/**
 * Reads a body of unknown size (no Content-Length) into one `Uint8Array`. Files of known size go
 * through `downloadResumable`, which fills a preallocated buffer and can resume.
 */
export async function readBody(response: Response, options: ReadBodyOptions): Promise<Uint8Array> {
  const { url, signal } = options;
  const reader = response.body?.getReader();
  if (!reader) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let length = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (chunks.length === 0) options.onFirstChunk?.(value);
      chunks.push(value);
      length += value.length;
      options.onBytes(length);
    }
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    if (error instanceof OndeviceError) throw error;
    if (signal?.aborted) throw abortError(signal);
    throw new OndeviceError('DOWNLOAD_FAILED', `The download of ${url} broke off after ${length} bytes (${describe(error)}). Try again.`, {
      details: { url, received: length },
      cause: error,
    });
  }
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** `Content-Length` counts encoded bytes; it only sizes the decoded body when there is no encoding. */
export function contentLength(response: Response): number | undefined {
  const encoding = response.headers.get('content-encoding');
  if (encoding && encoding !== 'identity') return undefined;
  const value = Number(response.headers.get('content-length') ?? Number.NaN);
  return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

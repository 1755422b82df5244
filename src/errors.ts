/** @file OndeviceError: the one error type of the library, its stable codes, and its wire form across the worker boundary. */

/**
 * Stable error codes. Match on `code`, never on `message` (messages may be reworded).
 */
export type OndeviceErrorCode =
  | 'MANIFEST_INVALID'
  | 'SIGNATURE_INVALID'
  | 'MANIFEST_EXPIRED'
  | 'MODEL_INVALID'
  | 'DOWNLOAD_FAILED'
  | 'INTEGRITY_MISMATCH'
  | 'QUOTA_EXCEEDED'
  | 'VERSION_UNAVAILABLE'
  | 'BACKEND_UNAVAILABLE'
  | 'INPUT_INVALID'
  | 'RUN_FAILED'
  | 'INSECURE_CONTEXT'
  | 'STORAGE_FAILED'
  | 'INTERNAL'
  | 'ABORTED'
  | 'DISPOSED'
  | 'WORKER_CRASHED';

/** Structured, structured-clone-safe data about a failure (URLs, expected and actual values…). */
export type ErrorDetails = Readonly<Record<string, unknown>>;

/** What an `OndeviceError` carries besides its code and message: structured details and the cause. */
export interface OndeviceErrorOptions {
  details?: ErrorDetails;
  cause?: unknown;
}

/**
 * Every failure of the library: a stable `code` (see {@link OndeviceErrorCode}), a message that says
 * what to do, and structured `details`. It survives the worker boundary.
 */
export class OndeviceError extends Error {
  override readonly name = 'OndeviceError' as const;
  readonly code: OndeviceErrorCode;
  readonly details: ErrorDetails;

  constructor(code: OndeviceErrorCode, message: string, options: OndeviceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }
}

/**
 * True for an `OndeviceError` (optionally of one `code`). Matches by `name` too, so it works for
 * errors from another realm (an iframe, or a second copy of the library in the bundle).
 */
export function isOndeviceError(value: unknown, code?: OndeviceErrorCode): value is OndeviceError {
  const matches =
    value instanceof OndeviceError ||
    (value instanceof Error && value.name === 'OndeviceError' && typeof (value as { code?: unknown }).code === 'string');
  return matches && (code === undefined || (value as OndeviceError).code === code);
}

/** What crosses `postMessage` for an error: plain data only. */
export interface WireError {
  name: string;
  message: string;
  stack: string | undefined;
  code: OndeviceErrorCode | undefined;
  details: ErrorDetails | undefined;
  cause: { name: string; message: string } | undefined;
}

export function errorToWire(error: unknown): WireError {
  if (!(error instanceof Error)) {
    return { name: 'Error', message: String(error), stack: undefined, code: undefined, details: undefined, cause: undefined };
  }
  const cause = error.cause instanceof Error ? { name: error.cause.name, message: error.cause.message } : undefined;
  if (isOndeviceError(error)) {
    return { name: error.name, message: error.message, stack: error.stack, code: error.code, details: cloneableDetails(error.details), cause };
  }
  return { name: error.name, message: error.message, stack: error.stack, code: undefined, details: undefined, cause };
}

export function errorFromWire(wire: WireError): Error {
  const cause = wire.cause && Object.assign(new Error(wire.cause.message), { name: wire.cause.name });
  const error =
    wire.code === undefined
      ? Object.assign(new Error(wire.message, cause ? { cause } : undefined), { name: wire.name })
      : new OndeviceError(wire.code, wire.message, { details: wire.details ?? {}, cause });
  // Keep the worker-side stack: it is the one that says where the failure happened.
  if (wire.stack !== undefined) error.stack = wire.stack;
  return error;
}

/** Details are ours and meant to be plain data; this guards against a value that cannot be cloned. */
function cloneableDetails(details: ErrorDetails): ErrorDetails {
  try {
    return structuredClone(details);
  } catch {
    return JSON.parse(JSON.stringify(details)) as ErrorDetails;
  }
}

/**
 * The `ABORTED` error for a signal, keeping the signal's reason as the cause. A timeout
 * (`AbortSignal.timeout`) is told by the signal's reason, a `TimeoutError`: what a fetch or a stream
 * throws on abort is an `AbortError` in some engines' workers whatever the reason.
 * `details.reason` is `'timeout'` or `'abort'`.
 */
export function abortError(signal: AbortSignal | undefined, what = 'The load'): OndeviceError {
  const reason: unknown = signal?.reason;
  if (isTimeout(reason)) {
    return new OndeviceError('ABORTED', `${what} timed out (its AbortSignal's timeout fired). Allow it more time, or try again on a better connection.`, { details: { reason: 'timeout' }, cause: reason });
  }
  return new OndeviceError('ABORTED', `${what} was aborted by its AbortSignal.`, { details: { reason: 'abort' }, cause: reason });
}

function isTimeout(reason: unknown): boolean {
  return typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError';
}

export function throwIfAborted(signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted) throw abortError(signal, what);
}

const STORAGE_ERRORS = new Set(['UnknownError', 'InvalidStateError', 'DataError', 'TransactionInactiveError', 'VersionError', 'NotFoundError', 'ReadOnlyError', 'DataCloneError', 'NoModificationAllowedError', 'NotReadableError', 'InvalidModificationError', 'SecurityError', 'ConstraintError']);

/**
 * Every error an app can see is an `OndeviceError` with a code: this maps what the platform throws
 * (a DOMException from IndexedDB or Web Locks, an AbortError, a RangeError from an allocation) where
 * the library meets the app. `fallback` is the code for anything else (`RUN_FAILED` for a run,
 * `INTERNAL` elsewhere). An `OndeviceError` passes through as it is.
 */
export function toOndeviceError(error: unknown, fallback: 'RUN_FAILED' | 'INTERNAL' = 'INTERNAL'): OndeviceError {
  if (isOndeviceError(error)) return error;
  const name = typeof error === 'object' && error !== null && typeof (error as { name?: unknown }).name === 'string' ? (error as { name: string }).name : '';
  const text = error instanceof Error ? error.message : String(error);
  if (name === 'AbortError' || name === 'TimeoutError') {
    return new OndeviceError('ABORTED', `The operation was aborted (${text}).`, { details: { reason: name === 'TimeoutError' ? 'timeout' : 'abort' }, cause: error });
  }
  if (name === 'QuotaExceededError') return new OndeviceError('QUOTA_EXCEEDED', `The device ran out of storage (${text}). Free space, or set maxCacheBytes so older models are evicted.`, { cause: error });
  if (name === 'RangeError' && /allocat|array buffer|invalid typed array length/i.test(text)) {
    return new OndeviceError('QUOTA_EXCEEDED', `The device could not allocate memory for the model (${text}). Use a smaller variant.`, { cause: error });
  }
  if (STORAGE_ERRORS.has(name)) {
    return new OndeviceError('STORAGE_FAILED', `The browser's storage failed (${name}: ${text}). Try again; if it persists, clear the site's data.`, { details: { name }, cause: error });
  }
  if (fallback === 'RUN_FAILED') return new OndeviceError('RUN_FAILED', `Inference failed: ${text}`, { details: { name }, cause: error });
  return new OndeviceError('INTERNAL', `An unexpected error inside ondevice (${name || 'Error'}: ${text}). Please report it with this message.`, { details: { name }, cause: error });
}

/** Parses a URL the app gave; a malformed one is `INPUT_INVALID`, not a raw TypeError. */
export function parseUrl(input: string | URL, option = 'url'): URL {
  try {
    return new URL(input, globalThis.location?.href);
  } catch (error) {
    throw new OndeviceError('INPUT_INVALID', `${JSON.stringify(String(input))} is not a URL (${option}). Pass an absolute URL or a path relative to the page.`, {
      details: { input: option, actual: String(input) },
      cause: error,
    });
  }
}

export function disposedError(): OndeviceError {
  return new OndeviceError('DISPOSED', 'This model was disposed; load it again with loadModel() to run it.');
}

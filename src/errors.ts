/** @file OndeviceError: the one error type of the library, its stable codes, and its wire form across the worker boundary. */

/**
 * Stable error codes. Match on `code`, never on `message` (messages may be reworded).
 */
export type OndeviceErrorCode =
  | 'MANIFEST_INVALID'
  | 'MODEL_INVALID'
  | 'DOWNLOAD_FAILED'
  | 'INTEGRITY_MISMATCH'
  | 'QUOTA_EXCEEDED'
  | 'VERSION_UNAVAILABLE'
  | 'BACKEND_UNAVAILABLE'
  | 'INPUT_INVALID'
  | 'RUN_FAILED'
  | 'INSECURE_CONTEXT'
  | 'ABORTED'
  | 'DISPOSED'
  | 'WORKER_CRASHED';

/** Structured, structured-clone-safe data about a failure (URLs, expected and actual values…). */
export type ErrorDetails = Readonly<Record<string, unknown>>;

export interface OndeviceErrorOptions {
  details?: ErrorDetails;
  cause?: unknown;
}

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

/** The `ABORTED` error for a signal, keeping the signal's reason as the cause. */
export function abortError(signal: AbortSignal | undefined, what = 'The load'): OndeviceError {
  return new OndeviceError('ABORTED', `${what} was aborted by its AbortSignal.`, { cause: signal?.reason });
}

export function throwIfAborted(signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted) throw abortError(signal, what);
}

export function disposedError(): OndeviceError {
  return new OndeviceError('DISPOSED', 'This model was disposed; load it again with loadModel() to run it.');
}

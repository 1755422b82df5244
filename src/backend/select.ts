/** @file Backend preference → ordered list, and the walk down it that reports every skipped backend. */
import { OndeviceError, throwIfAborted } from '../errors.js';
import type { Backend, BackendFallback, BackendPreference } from '../types.js';

export const BACKENDS: readonly Backend[] = ['webgpu', 'wasm', 'webgl', 'cpu'];

/**
 * The backends to try, in order; `'auto'` stays `'auto'` until the runtime is known (ONNX: WebGPU, WASM;
 * TF.js: WebGPU, WebGL, WASM, CPU; see each adapter's `backends`).
 */
export function backendOrder(preference: BackendPreference | undefined): Backend[] | 'auto' {
  if (preference === undefined || preference === 'auto') return 'auto';
  const list = typeof preference === 'string' ? [preference] : [...preference];
  const unknown = list.filter((b) => !BACKENDS.includes(b));
  if (list.length === 0 || unknown.length > 0) {
    throw new OndeviceError('BACKEND_UNAVAILABLE', `Option "backend" must be 'auto', one of ${BACKENDS.join(', ')}, or a non-empty list of them; got ${JSON.stringify(preference)}.`, {
      details: { backend: list },
    });
  }
  return [...new Set(list)];
}

/** How one backend's attempt ended, when it did not produce a session. */
export class BackendSkipped extends Error {
  /** `unavailable`: the device or runtime lacks it; `failed`: it was tried and the session could not be created. */
  constructor(
    readonly kind: 'unavailable' | 'failed',
    readonly reason: string,
  ) {
    super(reason);
  }
}

export interface Selected<T> {
  value: T;
  backend: Backend;
  fallbacks: BackendFallback[];
}

/**
 * Tries each backend in order and returns the first success with the reasons for each earlier one.
 * All unavailable: `BACKEND_UNAVAILABLE`. Some tried and failed: `MODEL_INVALID` (every backend that
 * could run rejected the model). Errors that are not `BackendSkipped` end the walk at once.
 */
export async function firstWorkingBackend<T>(
  order: readonly Backend[],
  attempt: (backend: Backend) => Promise<T>,
  signal: AbortSignal | undefined,
): Promise<Selected<T>> {
  const fallbacks: BackendFallback[] = [];
  let anyTried = false;
  for (const backend of order) {
    throwIfAborted(signal);
    try {
      return { value: await attempt(backend), backend, fallbacks };
    } catch (error) {
      if (!(error instanceof BackendSkipped)) throw error;
      anyTried ||= error.kind === 'failed';
      fallbacks.push({ backend, reason: error.reason });
    }
  }
  throwIfAborted(signal);
  const summary = fallbacks.map((f) => `${f.backend}: ${f.reason}`).join('; ');
  if (anyTried) {
    throw new OndeviceError('MODEL_INVALID', `The model could not be loaded on any backend (${summary}). Check that the file is a valid model for this runtime.`, {
      details: { fallbacks },
    });
  }
  throw new OndeviceError('BACKEND_UNAVAILABLE', `No backend of [${order.join(', ')}] is available here (${summary}).`, { details: { fallbacks } });
}

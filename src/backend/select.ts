/** @file Backend preference → ordered list, and the walk down it that reports every skipped backend. */
import { OndeviceError, isOndeviceError, throwIfAborted } from '../errors.js';
import type { Backend, BackendFallback, BackendPreference } from '../types.js';

export const BACKENDS: readonly Backend[] = ['webgpu', 'wasm', 'webgl', 'cpu', 'cuda', 'dml', 'coreml'];

/**
 * The backends to try, in order; `'auto'` stays `'auto'` until the runtime is known (ONNX: WebGPU, WASM;
 * TF.js: WebGPU, WebGL, WASM, CPU; see each adapter's `backends`).
 */
export type BackendOrder = Backend[] | 'auto' | 'fastest';

export function backendOrder(preference: BackendPreference | undefined): BackendOrder {
  if (preference === undefined || preference === 'auto') return 'auto';
  if (preference === 'fastest') return 'fastest';
  const list: unknown[] = typeof preference === 'string' ? [preference] : Array.isArray(preference) ? [...(preference as unknown[])] : [preference];
  const unknown = list.filter((b) => !BACKENDS.includes(b as Backend));
  if (list.length === 0 || unknown.length > 0) {
    throw new OndeviceError('INPUT_INVALID', `Option "backend" must be 'auto', 'fastest', one of ${BACKENDS.join(', ')}, or a non-empty list of them; got ${JSON.stringify(preference)}.`, {
      details: { input: 'backend', expected: ['auto', 'fastest', ...BACKENDS], actual: preference },
    });
  }
  return [...new Set(list as Backend[])];
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
 * Failing that, `BACKEND_UNAVAILABLE`, whether the backends were missing or were tried and failed
 * (out of memory, a lost GPU device): neither says the model's bytes are bad, so neither may ban a
 * version. A runtime that finds the model is not one it can run throws `MODEL_INVALID`: the walk goes
 * on (another backend may run it: WebGPU lacks ops WASM has), and only if none does is the error
 * `MODEL_INVALID`. Any other error ends the walk at once.
 */
export async function firstWorkingBackend<T>(
  order: readonly Backend[],
  attempt: (backend: Backend) => Promise<T>,
  signal: AbortSignal | undefined,
): Promise<Selected<T>> {
  const fallbacks: BackendFallback[] = [];
  let anyTried = false;
  let invalid: OndeviceError | undefined;
  for (const backend of order) {
    throwIfAborted(signal);
    try {
      return { value: await attempt(backend), backend, fallbacks };
    } catch (error) {
      if (isOndeviceError(error, 'MODEL_INVALID')) {
        invalid ??= error;
        fallbacks.push({ backend, reason: error.message });
        continue;
      }
      if (!(error instanceof BackendSkipped)) throw error;
      anyTried ||= error.kind === 'failed';
      fallbacks.push({ backend, reason: error.reason });
    }
  }
  if (invalid) throw new OndeviceError('MODEL_INVALID', invalid.message, { details: { ...invalid.details, fallbacks }, cause: invalid });
  throwIfAborted(signal);
  const summary = fallbacks.map((f) => `${f.backend}: ${f.reason}`).join('; ');
  if (anyTried) {
    throw new OndeviceError('BACKEND_UNAVAILABLE', `No backend could start the model here now (${summary}). This can pass (memory pressure, a lost GPU device): try again later, or with another backend.`, {
      details: { fallbacks, tried: true },
    });
  }
  throw new OndeviceError('BACKEND_UNAVAILABLE', `No backend of [${order.join(', ')}] is available here (${summary}).`, { details: { fallbacks } });
}

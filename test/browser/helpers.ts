/** @file Shared by the browser tests: where the model server is, the digits test set, error assertions. */
import { expect, inject } from 'vitest';
import { isOndeviceError, type OndeviceErrorCode } from '../../src/index.js';

export const server = inject('modelServer');
export const digitsManifest = `${server}/digits/release/manifest.json`;

export interface TestSet {
  images: Float32Array;
  labels: number[];
  count: number;
}

let testSetPromise: Promise<TestSet> | undefined;

export function digitsTestSet(): Promise<TestSet> {
  testSetPromise ??= (async () => {
    const meta = (await (await fetch(`${server}/digits/test-set.json`)).json()) as { labels: number[]; dims: number[] };
    const images = new Float32Array(await (await fetch(`${server}/digits/test-set.bin`)).arrayBuffer());
    return { images, labels: meta.labels, count: meta.dims[0]! };
  })();
  return testSetPromise;
}

export async function digitsManifestFile(): Promise<string> {
  const manifest = (await (await fetch(digitsManifest)).json()) as { variants: { fp32: { files: Array<{ path: string }> } } };
  return `${server}/digits/release/${manifest.variants.fp32.files[0]!.path}`;
}

/** Awaits `promise`, expects an OndeviceError with `code`, and returns it for further checks. */
export async function expectOndeviceError(promise: Promise<unknown>, code: OndeviceErrorCode) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${code}, got success`).toBeDefined();
  expect(isOndeviceError(error), `expected an OndeviceError, got ${String(error)}`).toBe(true);
  if (!isOndeviceError(error)) throw error;
  expect(error.code, error.message).toBe(code);
  return error;
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** A host's load outcome that must be a loaded model (not one handed to another runtime's worker). */
export function loaded<T extends { kind: string }>(result: T): Extract<T, { kind: 'loaded' }> {
  expect(result.kind).toBe('loaded');
  return result as Extract<T, { kind: 'loaded' }>;
}

/**
 * Waits until no context holds or waits for a cache file lock: the updates earlier tests started in
 * the background (which a worker finishes before it ends) are done, so a cleared cache stays clear.
 */
export async function quiet(timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { held = [], pending = [] } = await navigator.locks.query();
    if (![...held, ...pending].some((l) => (l.name ?? '').startsWith('ondevice:file:'))) return;
    if (Date.now() > until) throw new Error('timed out waiting for the cache locks to be released');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** @file When WASM asks for threads: only where SharedArrayBuffer really exists, whatever `crossOriginIsolated` says. */
import { describe, expect, test } from 'vitest';
import { wasmThreadCount } from '../../src/backend/detect.js';
import { within } from '../../src/within.js';

describe('wasmThreadCount', () => {
  const cores = { navigator: { hardwareConcurrency: 8 } };
  test('isolated with SharedArrayBuffer: up to 4 threads', () => {
    expect(wasmThreadCount({ crossOriginIsolated: true, SharedArrayBuffer, ...cores })).toBe(4);
    expect(wasmThreadCount({ crossOriginIsolated: true, SharedArrayBuffer, navigator: { hardwareConcurrency: 2 } })).toBe(2);
  });
  test('isolated but SharedArrayBuffer undefined (WebKit without it): one thread', () => {
    expect(wasmThreadCount({ crossOriginIsolated: true, SharedArrayBuffer: undefined, ...cores })).toBe(1);
  });
  test('not isolated: one thread', () => {
    expect(wasmThreadCount({ crossOriginIsolated: false, SharedArrayBuffer, ...cores })).toBe(1);
  });
});

describe('within', () => {
  test('a promise that never settles gives undefined after the wait', async () => {
    expect(await within(new Promise(() => {}), 20)).toBeUndefined();
  });
  test('a quick value, a rejection, and no promise at all', async () => {
    expect(await within(Promise.resolve(true), 1_000)).toBe(true);
    expect(await within(Promise.reject(new Error('denied')), 1_000)).toBeUndefined();
    expect(await within(undefined, 1_000)).toBeUndefined();
  });
});

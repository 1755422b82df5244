/** @file Pure logic: input validation, backend order and walk, error wire form, tensor transfer, progress throttling. */
import { describe, expect, test } from 'vitest';
import { BackendSkipped, backendOrder, firstWorkingBackend } from '../../src/backend/select.js';
import { OndeviceError, toOndeviceError, errorFromWire, errorToWire, isOndeviceError } from '../../src/errors.js';
import { createProgressEmitter } from '../../src/progress.js';
import { validateInputs } from '../../src/tensor/validate.js';
import type { LoadProgress, TensorSpec } from '../../src/types.js';
import { forTransfer } from '../../src/worker/tensors.js';

const specs: TensorSpec[] = [
  { name: 'ids', type: 'int64', dims: ['batch', 'seq'] },
  { name: 'mask', type: 'bool', dims: [] },
];

describe('validateInputs', () => {
  test('accepts well-formed inputs, free dims and unknown shapes', () => {
    expect(() =>
      validateInputs({ ids: { type: 'int64', data: new BigInt64Array(6), dims: [2, 3] }, mask: { type: 'bool', data: new Uint8Array(5), dims: [5] } }, specs),
    ).not.toThrow();
  });

  test('details name the input, what was expected and what came', () => {
    try {
      validateInputs({ ids: { type: 'int32', data: new Int32Array(6), dims: [2, 3] }, mask: { type: 'bool', data: new Uint8Array(1), dims: [1] } }, specs);
      expect.unreachable();
    } catch (error) {
      expect(isOndeviceError(error, 'INPUT_INVALID')).toBe(true);
      expect((error as OndeviceError).details).toEqual({ input: 'ids', expected: 'int64', actual: 'int32' });
    }
  });

  test('negative or fractional dims are refused', () => {
    expect(() => validateInputs({ ids: { type: 'int64', data: new BigInt64Array(0), dims: [-1, 0] }, mask: { type: 'bool', data: new Uint8Array(0), dims: [0] } }, specs)).toThrow(/non-negative integers/);
  });
});

describe('backends', () => {
  test("'auto' is WebGPU then WASM; lists keep their order without duplicates", () => {
    expect(backendOrder(undefined)).toBe('auto');
    expect(backendOrder('auto')).toBe('auto');
    expect(backendOrder('wasm')).toEqual(['wasm']);
    expect(backendOrder(['wasm', 'webgpu', 'wasm'])).toEqual(['wasm', 'webgpu']);
    expect(() => backendOrder([])).toThrow(OndeviceError);
  });

  test('the walk reports each skipped backend and returns the first that works', async () => {
    const result = await firstWorkingBackend(['webgpu', 'webgl', 'wasm'], async (b) => {
      if (b === 'webgpu') throw new BackendSkipped('unavailable', 'no adapter');
      if (b === 'webgl') throw new BackendSkipped('failed', 'op not supported');
      return 'session';
    }, undefined);
    expect(result).toEqual({ value: 'session', backend: 'wasm', fallbacks: [{ backend: 'webgpu', reason: 'no adapter' }, { backend: 'webgl', reason: 'op not supported' }] });
  });

  test('nothing available, or available but failing (memory, a lost GPU), is BACKEND_UNAVAILABLE: never MODEL_INVALID, which would blame the bytes', async () => {
    const unavailable = firstWorkingBackend(['webgpu'], async () => {
      throw new BackendSkipped('unavailable', 'no adapter');
    }, undefined);
    await expect(unavailable).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    const failing = firstWorkingBackend(['webgpu', 'wasm'], async (b) => {
      throw new BackendSkipped(b === 'wasm' ? 'failed' : 'unavailable', 'x');
    }, undefined);
    await expect(failing).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE', details: { tried: true } });
  });

  test('MODEL_INVALID on one backend goes on to the next (WebGPU lacks ops WASM has); on every backend it is MODEL_INVALID with each reason', async () => {
    const ran = await firstWorkingBackend(['webgpu', 'wasm'], async (b) => {
      if (b === 'webgpu') throw new OndeviceError('MODEL_INVALID', 'no kernel for Foo', { details: { runtimeVersion: 'onnxruntime-web 1.30.0' } });
      return 'session';
    }, undefined);
    expect(ran).toEqual({ value: 'session', backend: 'wasm', fallbacks: [{ backend: 'webgpu', reason: 'no kernel for Foo' }] });
    const walk = firstWorkingBackend(['webgpu', 'wasm'], async (b) => {
      throw new OndeviceError('MODEL_INVALID', `bad on ${b}`, { details: { runtimeVersion: 'onnxruntime-web 1.30.0' } });
    }, undefined);
    await expect(walk).rejects.toMatchObject({ code: 'MODEL_INVALID', message: 'bad on webgpu', details: { runtimeVersion: 'onnxruntime-web 1.30.0', fallbacks: [{ backend: 'webgpu' }, { backend: 'wasm' }] } });
  });

  test('other errors stop the walk', async () => {
    let tried = 0;
    const walk = firstWorkingBackend(['webgpu', 'wasm'], async () => {
      tried++;
      throw new OndeviceError('INTEGRITY_MISMATCH', 'bad bytes');
    }, undefined);
    await expect(walk).rejects.toThrow('bad bytes');
    expect(tried).toBe(1);
  });
});

describe('errors across postMessage', () => {
  test('an OndeviceError keeps code, message, details and cause through structured clone', () => {
    const original = new OndeviceError('INTEGRITY_MISMATCH', 'bad file', { details: { url: 'u', expected: 'a', actual: 'b' }, cause: new TypeError('inner') });
    const back = errorFromWire(structuredClone(errorToWire(original)));
    expect(back).toBeInstanceOf(OndeviceError);
    expect(back).toMatchObject({ name: 'OndeviceError', code: 'INTEGRITY_MISMATCH', message: 'bad file', details: { url: 'u', expected: 'a', actual: 'b' } });
    expect((back.cause as Error).message).toBe('inner');
    expect(back.stack).toBe(original.stack);
  });

  test('other errors keep their name and message and get no code', () => {
    const back = errorFromWire(structuredClone(errorToWire(new RangeError('out of range'))));
    expect(back).toMatchObject({ name: 'RangeError', message: 'out of range' });
    expect(isOndeviceError(back)).toBe(false);
  });

  test('isOndeviceError matches errors from another realm by name and code', () => {
    const foreign = Object.assign(new Error('x'), { name: 'OndeviceError', code: 'ABORTED' });
    expect(isOndeviceError(foreign)).toBe(true);
    expect(isOndeviceError(foreign, 'ABORTED')).toBe(true);
    expect(isOndeviceError(foreign, 'DISPOSED')).toBe(false);
  });
});

describe('forTransfer', () => {
  test('whole buffers move as they are; views into bigger or shared buffers are copied first', () => {
    const whole = new Float32Array(4);
    const big = new Float32Array(16);
    const view = big.subarray(4, 8);
    const [tensors, buffers] = forTransfer({
      a: { type: 'float32', data: whole, dims: [4] },
      b: { type: 'float32', data: view, dims: [4] },
      c: { type: 'float32', data: whole, dims: [4] },
    });
    expect(tensors['a']!.data).toBe(whole);
    expect(tensors['b']!.data).not.toBe(view);
    expect((tensors['b']!.data as Float32Array).buffer.byteLength).toBe(16);
    expect(tensors['c']!.data).not.toBe(whole);
    expect(buffers).toHaveLength(3);
    expect(new Set(buffers).size).toBe(3);
    expect(buffers).not.toContain(big.buffer);
  });
});

describe('progress', () => {
  test('download events are throttled, other phases and the completing event always pass', () => {
    const seen: LoadProgress[] = [];
    let t = 0;
    const progress = createProgressEmitter((e) => seen.push(e), () => t);
    progress.emit({ phase: 'manifest', url: 'm' });
    for (let loaded = 10; loaded <= 100; loaded += 10) {
      progress.emit({ phase: 'download', url: 'f', loaded, total: 100, fileLoaded: loaded, fileTotal: 100 });
      t += 20;
    }
    progress.emit({ phase: 'verify', url: 'f' });
    expect(seen.map((e) => (e.phase === 'download' ? e.loaded : e.phase))).toEqual(['manifest', 10, 40, 70, 100, 'verify']);
  });

  test('a throwing listener does not break the load', async () => {
    const progress = createProgressEmitter(() => {
      throw new Error('app bug');
    });
    expect(() => progress.emit({ phase: 'ready', backend: 'wasm' })).not.toThrow();
    await progress.flush();
  });
});

describe('one mapping to OndeviceError where the library meets the app', () => {
  test.each([
    [new DOMException('stop', 'AbortError'), 'ABORTED'],
    [new DOMException('full', 'QuotaExceededError'), 'QUOTA_EXCEEDED'],
    [new DOMException('db broke', 'UnknownError'), 'STORAGE_FAILED'],
    [new DOMException('closing', 'InvalidStateError'), 'STORAGE_FAILED'],
    [new RangeError('Array buffer allocation failed'), 'QUOTA_EXCEEDED'],
    [new TypeError('x is undefined'), 'INTERNAL'],
    ['a string', 'INTERNAL'],
  ])('%s → %s', (thrown, code) => {
    const mapped = toOndeviceError(thrown);
    expect(mapped).toBeInstanceOf(OndeviceError);
    expect(mapped.code).toBe(code);
    expect(mapped.cause).toBe(thrown);
  });

  test('an OndeviceError passes through; a run failure defaults to RUN_FAILED', () => {
    const own = new OndeviceError('DISPOSED', 'gone');
    expect(toOndeviceError(own)).toBe(own);
    expect(toOndeviceError(new Error('kernel'), 'RUN_FAILED').code).toBe('RUN_FAILED');
  });
});

describe("variant 'auto' and 4-bit variants (issue 26)", () => {
  test('q4 and q4f16 rank after fp32, int8 and fp16 on every backend, and info.fallbacks says they were passed over and how to ask for them', async () => {
    const { chooseVariant } = await import('../../src/backend/variants.js');
    const offered = { fp32: { requires: [] }, q4: { requires: [] }, q4f16: { requires: ['shader-f16'] } };
    const wasm = new Map([['wasm' as const, { ok: true as const, features: new Set<string>() }]]);
    const choice = chooseVariant(offered, ['wasm'], 'auto', wasm);
    expect(choice.variant).toBe('fp32');
    expect(choice.fallbacks).toEqual([
      { backend: 'wasm', variant: 'q4', reason: expect.stringMatching(/^q4 ranks after fp32 on wasm: .*pass variant: 'q4' to load it$/) },
      { backend: 'wasm', variant: 'q4f16', reason: expect.stringMatching(/^q4f16 ranks after fp32 on wasm/) },
    ]);
    // Asked by name, or the only variant: loaded, nothing to report.
    expect(chooseVariant(offered, ['wasm'], 'q4', wasm)).toEqual({ variant: 'q4', fallbacks: [] });
    expect(chooseVariant({ q4: { requires: [] } }, ['wasm'], 'auto', wasm)).toEqual({ variant: 'q4', fallbacks: [] });
    // Variants without such a plan are not reported (as before): int8 passed over on WebGPU says nothing.
    const gpu = new Map([['webgpu' as const, { ok: true as const, features: new Set(['shader-f16']) }]]);
    expect(chooseVariant({ fp32: { requires: [] }, int8: { requires: [] } }, ['webgpu'], 'auto', gpu)).toEqual({ variant: 'fp32', fallbacks: [] });
  });

  test('on WebGPU (where weights dominate, 4-bit ran faster): q4f16 first with shader-f16, else q4 before fp32; q4f16 never without shader-f16', async () => {
    const { chooseVariant } = await import('../../src/backend/variants.js');
    const offered = { fp32: { requires: [] }, int8: { requires: [] }, q4: { requires: [] }, q4f16: { requires: [] } };
    const f16 = new Map([['webgpu' as const, { ok: true as const, features: new Set(['shader-f16']) }]]);
    expect(chooseVariant(offered, ['webgpu'], 'auto', f16)).toEqual({
      variant: 'q4f16',
      fallbacks: [{ backend: 'webgpu', variant: 'q4', reason: expect.stringMatching(/^q4 ranks after q4f16 on webgpu: on an adapter with shader-f16, float16 compute comes first/) }],
    });
    const plain = new Map([['webgpu' as const, { ok: true as const, features: new Set<string>() }]]);
    expect(chooseVariant(offered, ['webgpu'], 'auto', plain)).toEqual({
      variant: 'q4',
      fallbacks: [{ backend: 'webgpu', variant: 'q4f16', reason: 'variant q4f16 needs shader-f16, which webgpu here does not offer' }],
    });
    // Asked by name on such an adapter: the backend walk refuses it (unmet names the feature).
    const { unmet } = await import('../../src/backend/variants.js');
    expect(unmet([], 'webgpu', plain, 'q4f16')).toEqual(['shader-f16']);
    expect(unmet([], 'webgpu', f16, 'q4f16')).toEqual([]);
    const wasm = new Map([['wasm' as const, { ok: true as const, features: new Set<string>() }]]);
    expect(unmet([], 'wasm', wasm, 'q4f16')).toEqual([]);
  });
});

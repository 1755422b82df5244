/** @file The load options that reach a runtime: checked field by field, and mapped to onnxruntime-web's names. */
import { describe, expect, test } from 'vitest';
import { OndeviceError } from '../../src/errors.js';
import { onnxOptions, storagePreference } from '../../src/load-options.js';
import { sessionOptions } from '../../src/runtime/onnx.js';
import type { LoadOptions } from '../../src/types.js';

function invalid(run: () => unknown): OndeviceError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(OndeviceError);
    expect((error as OndeviceError).code).toBe('INPUT_INVALID');
    return error as OndeviceError;
  }
  throw new Error('expected INPUT_INVALID');
}

describe('onnx options', () => {
  test('map to ORT session options: prepacking off is the session config entry ORT reads', () => {
    expect(sessionOptions('wasm')).toEqual({ executionProviders: ['wasm'], graphOptimizationLevel: 'all', logSeverityLevel: 3 });
    expect(sessionOptions('webgpu', { disablePrepacking: true, graphOptimizationLevel: 'basic' })).toEqual({
      executionProviders: ['webgpu'],
      graphOptimizationLevel: 'basic',
      logSeverityLevel: 3,
      extra: { session: { disable_prepacking: '1' } },
    });
    expect(sessionOptions('wasm', { disablePrepacking: false })).not.toHaveProperty('extra');
    const external = [{ path: 'm.data', bytes: new Uint8Array(4) }];
    expect(sessionOptions('wasm', {}, external).externalData).toEqual([{ path: 'm.data', data: external[0]!.bytes }]);
  });

  test('only typed settings pass, each checked', () => {
    expect(onnxOptions(undefined)).toBeUndefined();
    expect(onnxOptions({ disablePrepacking: true })).toEqual({ disablePrepacking: true });
    expect(invalid(() => onnxOptions({ disablePrepacking: 'yes' } as unknown as LoadOptions['onnx'])).details).toMatchObject({ input: 'onnx.disablePrepacking' });
    expect(invalid(() => onnxOptions({ graphOptimizationLevel: 'max' } as unknown as LoadOptions['onnx'])).message).toMatch(/'disabled', 'basic', 'extended', 'all'/);
    // Not a pass-through: an ORT option the library does not type is refused, naming the settings there are.
    expect(invalid(() => onnxOptions({ executionProviders: ['webnn'] } as unknown as LoadOptions['onnx'])).message).toMatch(/no setting "executionProviders".*disablePrepacking/);
    invalid(() => onnxOptions(null as unknown as LoadOptions['onnx']));
  });

  test('storage is one of three names', () => {
    expect(storagePreference(undefined)).toBe('auto');
    expect(storagePreference('indexeddb')).toBe('indexeddb');
    expect(invalid(() => storagePreference('localStorage' as LoadOptions['storage'])).details).toMatchObject({ input: 'storage' });
  });
});

/** @file Type tests for the public API: what an app's editor will see. Checked by `npm run typecheck`. */
import { describe, expectTypeOf, test } from 'vitest';
import { OndeviceError, isOndeviceError, loadModel, type LoadOptions, type LoadProgress, type Model, type ModelInfo, type OndeviceErrorCode, type RunOptions, type RunOutputs, type Tensor, type TensorMap, type TensorRef } from '../../src/index.js';

describe('public types', () => {
  test('loadModel takes a URL and options and gives a Model', () => {
    expectTypeOf(loadModel).parameter(0).toEqualTypeOf<string | URL>();
    expectTypeOf(loadModel).parameter(1).toEqualTypeOf<LoadOptions | undefined>();
    expectTypeOf(loadModel).returns.resolves.toEqualTypeOf<Model>();
    // run(inputs) gives tensors with data; run(inputs, options) may give kept refs too.
    expectTypeOf<Model['run']>().toBeCallableWith({ x: { type: 'float32', data: new Float32Array(1), dims: [1] } });
    expectTypeOf<ReturnType<Model['run']>>().toEqualTypeOf<Promise<RunOutputs>>();
    expectTypeOf<RunOutputs[string]>().toEqualTypeOf<Tensor | TensorRef>();
    expectTypeOf<Model['asset']>().returns.resolves.toEqualTypeOf<Blob>();
    expectTypeOf<Model['read']>().parameter(0).toEqualTypeOf<TensorRef>();
    expectTypeOf<TensorRef['kept']>().toEqualTypeOf<true>();
    expectTypeOf<RunOptions['keep']>().toEqualTypeOf<boolean | readonly string[] | undefined>();
    expectTypeOf<ModelInfo['backend']>().toEqualTypeOf<'webgpu' | 'wasm' | 'webgl' | 'cpu' | 'cuda' | 'dml' | 'coreml'>();
    expectTypeOf<Model['lastUpdateError']>().toEqualTypeOf<OndeviceError | null>();
  });

  test('a tensor ties its type to its array', () => {
    expectTypeOf<{ type: 'float32'; data: Float32Array; dims: number[] }>().toExtend<Tensor>();
    expectTypeOf<{ type: 'float32'; data: Int32Array; dims: number[] }>().not.toExtend<Tensor>();
    expectTypeOf<{ type: 'int64'; data: BigInt64Array; dims: number[] }>().toExtend<Tensor>();
  });

  test('progress narrows on phase', () => {
    const seen = (e: LoadProgress) => {
      if (e.phase === 'download') expectTypeOf(e.total).toEqualTypeOf<number | null>();
      if (e.phase === 'compile') expectTypeOf(e.backend).toEqualTypeOf<ModelInfo['backend']>();
    };
    expectTypeOf(seen).toBeFunction();
  });

  test('errors carry a code union and guard by type', () => {
    expectTypeOf<OndeviceError['code']>().toEqualTypeOf<OndeviceErrorCode>();
    expectTypeOf<'WORKER_CRASHED'>().toExtend<OndeviceErrorCode>();
    expectTypeOf<'NOPE'>().not.toExtend<OndeviceErrorCode>();
    const check = (e: unknown) => {
      if (isOndeviceError(e)) expectTypeOf(e).toEqualTypeOf<OndeviceError>();
    };
    expectTypeOf(check).toBeFunction();
  });

  test('worker accepts a boolean or a Worker, never a string', () => {
    expectTypeOf<{ worker: 'yes' }>().not.toExtend<LoadOptions>();
    expectTypeOf<{ worker: Worker }>().toExtend<LoadOptions>();
  });
});

describe('transformersCache (issue 27)', () => {
  test("returns transformers.js's cache interface; the browser takes storage, Node cacheDir", async () => {
    const browser = await import('../../src/index.js');
    const node = await import('../../src/node/index.js');
    expectTypeOf(browser.transformersCache).returns.resolves.toEqualTypeOf<import('../../src/index.js').TransformersCache>();
    expectTypeOf<import('../../src/index.js').TransformersCache['match']>().returns.resolves.toEqualTypeOf<Response | undefined>();
    expectTypeOf(browser.transformersCache).toBeCallableWith({ models: { 'acme/bert': 'https://cdn.example.com/m/manifest.json' }, storage: 'indexeddb', variant: 'fp32' });
    expectTypeOf(node.transformersCache).toBeCallableWith({ models: { 'acme/bert': '/srv/m/manifest.json' }, cacheDir: '/tmp/c' });
    // @ts-expect-error storage is the browser's: Node caches on disk
    void (() => node.transformersCache({ models: {}, storage: 'opfs' }));
    expectTypeOf<import('../../src/index.js').TransformersUpdateInfo>().toEqualTypeOf<{ repo: string; version: string; previousVersion: string; revoked: boolean }>();
  });
});

/** @file The onnxruntime-node adapter at its interface (RuntimeAdapter): sessions, the provider table, bad bytes, release under load. */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { nodeBackends, nodeSessionOptions, onnxNodeRuntime } from '../../src/node/onnx-node.js';
import { digitsModelPath, digitsTestSet, referenceLogits } from '../support/digits.mjs';

const model = () => [{ path: 'digits.onnx', bytes: new Uint8Array(readFileSync(digitsModelPath())) }];

describe('onnxruntime-node adapter', () => {
  test("'auto' tries each platform's accelerator, then the CPU", () => {
    expect(nodeBackends('linux')).toEqual(['cuda', 'cpu']);
    expect(nodeBackends('win32')).toEqual(['dml', 'cuda', 'cpu']);
    expect(nodeBackends('darwin')).toEqual(['coreml', 'cpu']);
  });

  test('settings reach onnxruntime-node under its own names', () => {
    expect(nodeSessionOptions('cpu', { disablePrepacking: true, graphOptimizationLevel: 'basic' })).toMatchObject({
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'basic',
      extra: { 'session.disable_prepacking': '1' },
    });
  });

  test('release() waits for the runs in flight: each still gets its outputs', async () => {
    const session = await onnxNodeRuntime.create(model(), 'cpu');
    const { images } = digitsTestSet();
    const runs = [0, 1, 2].map(() => session.run({ image: { type: 'float32', data: images.slice(0, 640), dims: [10, 1, 8, 8] } }));
    await session.release();
    const reference = (await referenceLogits()).logits.slice(0, 100);
    for (const out of await Promise.all(runs)) expect(Array.from(out['logits']!.data as Float32Array)).toEqual(reference.map((v) => Math.fround(v)));
  });

  test('bytes that are not a model: MODEL_INVALID; a provider this build lacks: skipped with the reason', async () => {
    await expect(onnxNodeRuntime.create([{ path: 'x.onnx', bytes: new TextEncoder().encode('<!DOCTYPE html>') }], 'cpu')).rejects.toMatchObject({ code: 'MODEL_INVALID' });
    await expect(onnxNodeRuntime.create(model(), 'coreml')).rejects.toMatchObject({ kind: 'unavailable', reason: expect.stringContaining('no coreml execution provider') });
    await expect(onnxNodeRuntime.create(model(), 'webgpu')).rejects.toMatchObject({ kind: 'unavailable', reason: expect.stringContaining("the browser entry 'ondevice'") });
  });
});

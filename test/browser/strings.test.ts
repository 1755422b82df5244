/**
 * @file `string` tensors (`data: string[]`) in every engine, in the worker and on the page: in and out
 * of a StringNormalizer, and a Cast to string and back (models/strings/make.mjs), equal to
 * onnxruntime-web called directly on the same file. Before, a string input was refused as an unknown
 * type and a string output rejected with comlink's raw "Unserializable return value".
 */
import * as ort from 'onnxruntime-web/wasm';
import { describe, expect, test } from 'vitest';
import { loadModel } from '../../src/index.js';
import { has } from './engine.js';
import { digitsManifest, expectOndeviceError, server } from './helpers.js';

const WORDS = ['The', 'Quick', 'BROWN', 'the', 'Fox', 'héllo wörld'];

async function direct(file: string, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.OnnxValueMapType> {
  const bytes = new Uint8Array(await (await fetch(`${server}/strings/${file}`)).arrayBuffer());
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

describe.each([true, false])('string tensors (worker: %s)', (worker) => {
  test('a string input and a string output equal onnxruntime-web called directly', async () => {
    const model = await loadModel(`${server}/strings/normalizer.onnx`, { worker, backend: 'wasm' });
    try {
      const out = await model.run({ text: { type: 'string', data: [...WORDS], dims: [WORDS.length] } });
      const expected = await direct('normalizer.onnx', { text: new ort.Tensor('string', [...WORDS], [WORDS.length]) });
      expect(out['normalized']).toEqual({ type: 'string', data: expected['normalized']!.data, dims: [4] });
      expect(out['normalized']!.data).toEqual(['quick', 'brown', 'fox', 'héllo wörld']);
    } finally {
      await model.dispose();
    }
  });

  test('a string output beside a float one', async () => {
    const model = await loadModel(`${server}/strings/cast.onnx`, { worker, backend: 'wasm' });
    try {
      const out = await model.run({ x: { type: 'float32', data: Float32Array.of(1.5, -2, 0.25), dims: [3] } });
      const expected = await direct('cast.onnx', { x: new ort.Tensor('float32', Float32Array.of(1.5, -2, 0.25), [3]) });
      expect(out['text']).toEqual({ type: 'string', data: expected['text']!.data, dims: [3] });
      expect(out['back']!.data).toEqual(Float32Array.of(1.5, -2, 0.25));
      await expectOndeviceError(model.run({ x: { type: 'string', data: ['1'], dims: [1] } }), 'INPUT_INVALID');
    } finally {
      await model.dispose();
    }
  });
});

// onnxruntime-web's WebGPU build lacks the CPU kernels for strings (Cast to and from string,
// StringNormalizer). A WASM model in a page or worker that had already loaded that build for a WebGPU
// model was refused as MODEL_INVALID; it now runs on the plain WASM build.
describe.each([true, false])('string tensors after a WebGPU model in the same context (worker: %s)', (worker) => {
  // Skipped where the engine has no WebGPU (an empty describe is an error in vitest).
  test.skipIf(!has('webgpu'))('a WebGPU model loaded first: string ops still run on wasm', async () => {
    const gpu = await loadModel(digitsManifest, { worker, backend: 'webgpu', variant: 'fp32' });
    try {
      expect(gpu.info.backend).toBe('webgpu');
      const model = await loadModel(`${server}/strings/normalizer.onnx`, { worker, backend: 'wasm' });
      try {
        const out = await model.run({ text: { type: 'string', data: [...WORDS], dims: [WORDS.length] } });
        expect(out['normalized']!.data).toEqual(['quick', 'brown', 'fox', 'héllo wörld']);
      } finally {
        await model.dispose();
      }
      const cast = await loadModel(`${server}/strings/cast.onnx`, { worker, backend: 'wasm' });
      try {
        const out = await cast.run({ x: { type: 'float32', data: Float32Array.of(1.5, -2, 0.25), dims: [3] } });
        const expected = await direct('cast.onnx', { x: new ort.Tensor('float32', Float32Array.of(1.5, -2, 0.25), [3]) });
        expect(out['text']).toEqual({ type: 'string', data: expected['text']!.data, dims: [3] });
      } finally {
        await cast.dispose();
      }
      // The WebGPU model still runs beside them.
      const image = { type: 'float32' as const, data: new Float32Array(64), dims: [1, 1, 8, 8] };
      expect((await gpu.run({ image }))['logits']!.dims).toEqual([1, 10]);
    } finally {
      await gpu.dispose();
    }
  });
});

/**
 * @file Bad input and bad hosts in real Chromium: each gives a stable OndeviceError code, loses nothing,
 * and leaves the worker serving.
 */
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { OndeviceError, loadModel, modelCache, type Model, type Tensor } from '../../src/index.js';
import { digitsManifest, digitsManifestFile, digitsTestSet, expectOndeviceError, maxAbsDiff, server } from './helpers.js';

const reference = inject('referenceLogits');

function image(): Extract<Tensor, { type: 'float32' }> {
  return { type: 'float32', data: new Float32Array(64), dims: [1, 1, 8, 8] };
}

describe.each([true, false])('with worker: %s', (worker) => {
  let model: Model;

  /** The model still answers correctly: the worker (or page) survived the failure. */
  async function stillServes(): Promise<void> {
    const { images } = await digitsTestSet();
    const out = await model.run({ image: { type: 'float32', data: images.slice(0, 64), dims: [1, 1, 8, 8] } });
    expect(maxAbsDiff(out['logits']!.data as Float32Array, reference.logits.slice(0, 10))).toBeLessThanOrEqual(1e-4);
  }

  beforeAll(async () => {
    model = await loadModel(digitsManifest, { backend: 'wasm', worker, variant: 'fp32' });
  });
  afterAll(async () => {
    await model.dispose();
  });

  const badInputs: Array<[string, Record<string, unknown>, RegExp]> = [
    ['an unknown input name', { pixels: image() }, /"pixels" is not an input of this model; its inputs are "image"/],
    ['a missing input', {}, /"image" is missing/],
    ['the wrong dtype', { image: { type: 'int32', data: new Int32Array(64), dims: [1, 1, 8, 8] } }, /must be float32, got int32/],
    ['data in the wrong array type', { image: { type: 'float32', data: new Float64Array(64), dims: [1, 1, 8, 8] } }, /needs its data in a Float32Array, got Float64Array/],
    ['the wrong rank', { image: { type: 'float32', data: new Float32Array(64), dims: [1, 64] } }, /must have rank 4 \[batch, 1, 8, 8\], got rank 2/],
    ['a wrong fixed dimension', { image: { type: 'float32', data: new Float32Array(72), dims: [1, 1, 8, 9] } }, /must have dims \[batch, 1, 8, 8\], got \[1, 1, 8, 9\] \(dimension 3\)/],
    ['data that does not fill dims', { image: { type: 'float32', data: new Float32Array(63), dims: [1, 1, 8, 8] } }, /has 63 elements in data but dims \[1, 1, 8, 8\] need 64/],
    ['not an object', null as unknown as Record<string, unknown>, /run\(\) takes an object of tensors/],
  ];

  test.each(badInputs)('%s is INPUT_INVALID, naming the input; nothing is detached; the model still serves', async (_, inputs, message) => {
    const buffers = Object.values(inputs ?? {}).map((t) => (t as Tensor).data);
    const error = await expectOndeviceError(model.run(inputs as Record<string, Tensor>), 'INPUT_INVALID');
    expect(error.message).toMatch(message);
    expect(error).toBeInstanceOf(OndeviceError);
    for (const data of buffers) expect((data as Float32Array).buffer.byteLength).toBeGreaterThan(0);
    await stillServes();
  });

  test('a valid run transfers the input buffer in worker mode only', async () => {
    const input = image();
    await model.run({ image: input });
    expect(input.data.buffer.byteLength).toBe(worker ? 0 : 256);
  });

  const badHosts: Array<[string, string, string, RegExp]> = [
    ['a model URL that 404s', '/digits/release/nope.onnx', 'DOWNLOAD_FAILED', /failed with HTTP 404/],
    ['a manifest URL that 404s', '/digits/nope/manifest.json', 'DOWNLOAD_FAILED', /failed with HTTP 404/],
    ['an HTML page instead of the model', '/spa/digits.onnx', 'MODEL_INVALID', /answered an HTML page \(HTTP 200\) where the model should be/],
    ['an HTML page instead of the manifest', '/spa/manifest.json', 'MANIFEST_INVALID', /answered an HTML page \(HTTP 200\) where the manifest should be/],
    ['a manifest file that is an HTML page', '/mutated/html-file/manifest.json', 'MODEL_INVALID', /answered an HTML page/],
    ['bytes that are not an ONNX model', '/digits/test-set.bin', 'MODEL_INVALID', /cannot load this model|could not be loaded on any backend|is not a valid ONNX model/],
    ['a manifest without version', '/mutated/no-version/manifest.json', 'MANIFEST_INVALID', /field "version" must be a non-empty string, got nothing/],
    ['a manifest of another format', '/mutated/bad-format/manifest.json', 'MANIFEST_INVALID', /field "format" must be "ondevice\/1"/],
    ['a manifest pointing at another host', '/mutated/other-origin/manifest.json', 'MANIFEST_INVALID', /"variants.fp32.files\[0\].path" must be a path relative to the manifest/],
    ['a manifest whose file 404s', '/mutated/missing-file/manifest.json', 'DOWNLOAD_FAILED', /nope\.onnx failed with HTTP 404/],
    ['a file whose bytes do not hash right', '/mutated/bad-sha256/manifest.json', 'INTEGRITY_MISMATCH', /does not match its manifest: SHA-256 [0-9a-f]{64}, expected 0{64}/],
    ['a file shorter than the manifest says', '/mutated/bad-size/manifest.json', 'INTEGRITY_MISMATCH', /has 154818 bytes where the manifest says 154819/],
    ['an ONNX file under runtime "tfjs-layers"', '/mutated/tfjs/manifest.json', 'MODEL_INVALID', /digits\.fp32\.[0-9a-f]{8}\.onnx is not a usable TF\.js model: it is not JSON/],
  ];

  test.each(badHosts)('%s: a clear error with its code; the worker still serves', async (_, path, code, message) => {
    // Files are cached by hash: with the digits file cached, a manifest naming its hash needs no download.
    await modelCache.clear();
    const error = await expectOndeviceError(loadModel(`${server}${path}`, { backend: 'wasm', worker, variant: 'fp32' }), code as OndeviceError['code']);
    expect(error.message).toMatch(message);
    await stillServes();
  });

  test('errors from the worker keep their details', async () => {
    const error = await expectOndeviceError(loadModel(`${server}/digits/release/nope.onnx`, { worker }), 'DOWNLOAD_FAILED');
    expect(error.details).toEqual({ url: `${server}/digits/release/nope.onnx`, status: 404 });
    const mismatch = await expectOndeviceError(loadModel(`${server}/mutated/bad-sha256/manifest.json`, { worker }), 'INTEGRITY_MISMATCH');
    expect(mismatch.details['expected']).toBe('0'.repeat(64));
    expect(mismatch.details['actual']).toMatch(/^[0-9a-f]{64}$/);
    expect(mismatch.details['url']).toBe(await digitsManifestFile());
  });

  test('run after dispose is DISPOSED, dispose twice is fine, and other models keep serving', async () => {
    const other = await loadModel(digitsManifest, { backend: 'wasm', worker, variant: 'fp32' });
    await other.dispose();
    await other.dispose();
    await expectOndeviceError(other.run({ image: image() }), 'DISPOSED');
    await stillServes();
  });

  test('an unknown backend name is INPUT_INVALID, like every other bad option', async () => {
    const error = await expectOndeviceError(loadModel(digitsManifest, { backend: ['gpu' as 'webgpu'], worker }), 'INPUT_INVALID');
    expect(error.message).toMatch(/Option "backend" must be/);
  });
});

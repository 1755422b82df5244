/**
 * @file A model may read only the files its release supplies: a tensor whose external data names
 * any other file (here `package.json`, in the working directory) is MODEL_INVALID before a session
 * is created, in `ondevice/node`, `serve` and `verify`; before, onnxruntime-node read the file and its
 * bytes came back in the outputs.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, test } from 'vitest';
import { loadModel } from '../../src/node/index.js';
import { externalDataLocations } from '../../src/runtime/onnx-external.js';
import { startServer } from '../../src/serve/server.js';
import { cli } from '../support/cli.js';
import { LEAKED_BYTES, leakyModel, leakyRelease } from '../support/leaky-model.js';

const work = mkdtempSync(join(tmpdir(), 'ondevice-leak-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const secret = readFileSync('package.json').subarray(0, LEAKED_BYTES);

describe('external data the release does not supply', () => {
  test('the threat is real: onnxruntime-node itself reads the named file from the working directory', async () => {
    const session = await ort.InferenceSession.create(leakyModel());
    const out = await session.run({ x: new ort.Tensor('uint8', Uint8Array.of(0), [1]) });
    await session.release();
    expect(Buffer.from((out['y']!.data as Uint8Array).subarray(1))).toEqual(secret);
  });

  test('the scanner finds the locations without decoding the weights, and refuses bytes that are not a model', () => {
    expect(externalDataLocations(leakyModel('.env'))).toEqual(['.env']);
    expect(externalDataLocations(readFileSync('models/digits/release/digits.fp32.3f6e6529.onnx'))).toEqual([]);
    expect(() => externalDataLocations(leakyModel().subarray(0, 40), 'cut.onnx')).toThrow(expect.objectContaining({ code: 'MODEL_INVALID', message: expect.stringContaining('cut.onnx is not a valid ONNX model') }));
  });

  test('ondevice/node: MODEL_INVALID naming the file, and nothing read', async () => {
    const manifest = leakyRelease(join(work, 'node'));
    const load = loadModel(manifest, { cacheDir: join(work, 'cache-node'), update: 'never' });
    await expect(load).rejects.toMatchObject({ code: 'MODEL_INVALID', message: expect.stringMatching(/"package\.json", which the release does not supply/) });
  });

  test('serve: the model is not served; the reason is in the 503', async () => {
    const manifest = leakyRelease(join(work, 'serve'));
    const server = await startServer({ models: [manifest], port: 0, cacheDir: join(work, 'cache-serve'), updateInterval: 0, log: () => undefined });
    try {
      await server.started;
      const response = await fetch(`${server.url}/v2/models/${encodeURIComponent(manifest)}/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'x', shape: [1], datatype: 'UINT8', data: [0] }] }) });
      expect(response.status).toBe(503);
      expect(((await response.json()) as { error: string }).error).toMatch(/MODEL_INVALID.*package\.json/);
    } finally {
      await server.close();
    }
  });

  test('verify: refused with the reason', async () => {
    leakyRelease(join(work, 'verify'));
    const testSet = join(work, 'verify', 'test.json');
    writeFileSync(join(work, 'verify', 'x.bin'), new Uint8Array(new Float32Array([0]).buffer));
    writeFileSync(testSet, JSON.stringify({ input: 'x', dims: [1], file: 'x.bin' }));
    const result = await cli('verify', join(work, 'verify'), '--data', testSet);
    expect(result.code).not.toBe(0);
    expect(result.err).toMatch(/package\.json", which the release does not supply/);
  });

  test('quantize and publish read external data from beside the model, but never a hidden, key, config or source file: refused, nothing written', async () => {
    // quantize reads a graph's external data in since issue 24; a model from elsewhere must not
    // carry the publisher's .env or signing key into a release that way.
    for (const [name, secretFile] of [['env', '.env'], ['key', 'private.jwk'], ['pkg', 'package.json']] as const) {
      const dir = join(work, `quantize-${name}`);
      mkdirSync(dir);
      writeFileSync(join(dir, secretFile), 'SECRET=1'.padEnd(LEAKED_BYTES + 8, '#'));
      writeFileSync(join(dir, 'model.onnx'), leakyModel(secretFile));
      const result = await cli('quantize', join(dir, 'model.onnx'), '--to', 'fp16', '-o', join(dir, 'quantized.onnx'));
      expect(result.code).not.toBe(0);
      expect(result.err).toContain(`external data ("${secretFile}") that is not a weights file an exporter writes`);
      expect(existsSync(join(dir, 'quantized.onnx'))).toBe(false);
      const published = await cli('publish', join(dir, 'model.onnx'), join(dir, 'release'), '--version', '1.0.0');
      expect(published.code).not.toBe(0);
      expect(published.err).toContain(`("${secretFile}")`);
      expect(existsSync(join(dir, 'release'))).toBe(false);
    }
  });
});

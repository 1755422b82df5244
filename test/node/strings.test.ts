/**
 * @file `string` tensors (`data: string[]`) through ondevice/node and serve (BYTES, as JSON and as the
 * binary extension's length-prefixed elements), against onnxruntime-node on the same files
 * (models/strings/make.mjs).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, test } from 'vitest';
import { loadModel } from '../../src/node/index.js';
import { startServer } from '../../src/serve/server.js';

const cacheDir = mkdtempSync(join(tmpdir(), 'ondevice-strings-'));
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));
const fixture = (name: string) => fileURLToPath(new URL(`../../models/strings/${name}`, import.meta.url));
const WORDS = ['The', 'Quick', 'BROWN', 'the', 'Fox', 'héllo wörld'];

async function reference(file: string, feeds: Record<string, ort.Tensor>) {
  const session = await ort.InferenceSession.create(fixture(file));
  const out = await session.run(feeds);
  await session.release();
  return out;
}

describe('string tensors', () => {
  test('in and out through ondevice/node equal onnxruntime-node', async () => {
    const model = await loadModel(fixture('normalizer.onnx'), { cacheDir });
    const out = await model.run({ text: { type: 'string', data: [...WORDS], dims: [WORDS.length] } });
    const expected = await reference('normalizer.onnx', { text: new ort.Tensor('string', [...WORDS], [WORDS.length]) });
    expect(out['normalized']).toEqual({ type: 'string', data: expected['normalized']!.data, dims: [4] });
    expect(out['normalized']!.data).toEqual(['quick', 'brown', 'fox', 'héllo wörld']);
    const cast = await loadModel(fixture('cast.onnx'), { cacheDir });
    const both = await cast.run({ x: { type: 'float32', data: Float32Array.of(1.5, -2, 0.25), dims: [3] } });
    expect(both['text']).toMatchObject({ type: 'string', dims: [3] });
    expect(both['back']!.data).toEqual(Float32Array.of(1.5, -2, 0.25));
    await Promise.all([model.dispose(), cast.dispose()]);
  });

  test('a string input that is not all strings is INPUT_INVALID', async () => {
    const model = await loadModel(fixture('normalizer.onnx'), { cacheDir });
    await expect(model.run({ text: { type: 'string', data: ['a', 3 as unknown as string], dims: [2] } })).rejects.toMatchObject({ code: 'INPUT_INVALID', message: expect.stringMatching(/data\[1\] is number/) });
    await model.dispose();
  });

  test('serve: BYTES as JSON and as binary data, both ways', async () => {
    const server = await startServer({ models: [fixture('normalizer.onnx')], port: 0, cacheDir, updateInterval: 0, log: () => undefined });
    try {
      await server.started;
      const url = `${server.url}/v2/models/normalizer/infer`;
      expect(await (await fetch(`${server.url}/v2/models/normalizer`)).json()).toMatchObject({ inputs: [{ name: 'text', datatype: 'BYTES', shape: [-1] }] });
      const json = await (await fetch(url, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'text', shape: [WORDS.length], datatype: 'BYTES', data: WORDS }] }) })).json();
      expect(json).toMatchObject({ outputs: [{ name: 'normalized', datatype: 'BYTES', shape: [4], data: ['quick', 'brown', 'fox', 'héllo wörld'] }] });
      // The binary extension: each element a 4-byte little-endian length, then its UTF-8 bytes.
      const elements = WORDS.map((w) => Buffer.from(w));
      const raw = Buffer.concat(elements.flatMap((b) => [Buffer.from(Uint32Array.of(b.length).buffer), b]));
      const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'text', shape: [WORDS.length], datatype: 'BYTES', parameters: { binary_data_size: raw.length } }], outputs: [{ name: 'normalized', parameters: { binary_data: true } }] }));
      const response = await fetch(url, { method: 'POST', body: Buffer.concat([header, raw]), headers: { 'inference-header-content-length': String(header.length) } });
      const bytes = Buffer.from(await response.arrayBuffer());
      const length = Number(response.headers.get('inference-header-content-length'));
      const out = bytes.subarray(length);
      const words: string[] = [];
      for (let at = 0; at < out.length; ) {
        const n = out.readUInt32LE(at);
        words.push(out.subarray(at + 4, at + 4 + n).toString());
        at += 4 + n;
      }
      expect(words).toEqual(['quick', 'brown', 'fox', 'héllo wörld']);
      // An element that claims more bytes than were sent: 400.
      const bad = Buffer.concat([Buffer.from(Uint32Array.of(999).buffer), Buffer.from('x')]);
      const badHeader = Buffer.from(JSON.stringify({ inputs: [{ name: 'text', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: bad.length } }] }));
      const refused = await fetch(url, { method: 'POST', body: Buffer.concat([badHeader, bad]), headers: { 'inference-header-content-length': String(badHeader.length) } });
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { error: string }).error).toMatch(/BYTES element 0 says 999 bytes/);
    } finally {
      await server.close();
    }
  });
});

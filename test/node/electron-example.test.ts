/**
 * @file examples/electron's main-process half (model-service.mjs) in Node, where Electron's main process
 * runs it: the digits release from a folder, on onnxruntime-node, against its numbers. Electron itself
 * cannot be installed here (it downloads its binary); see examples/electron/README.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';
import { createModelService } from '../../examples/electron/model-service.mjs';
import { digitsModelPath } from '../support/digits.mjs';

const cacheDir = mkdtempSync(join(tmpdir(), 'ondevice-electron-'));
afterEach(() => rmSync(cacheDir, { recursive: true, force: true }));

test("the main process's model classifies a drawn 1 as onnxruntime-node does, cached under the app's directory", async () => {
  const lines: string[] = [];
  const service = await createModelService({ manifestUrl: fileURLToPath(new URL('../../models/digits/release/manifest.json', import.meta.url)), cacheDir, log: (l: string) => lines.push(l) });
  const pixels = new Float32Array(64);
  for (let row = 1; row < 7; row++) pixels[row * 8 + 4] = 16;
  const answer = await service.classify(pixels);
  const ort = (await import('onnxruntime-node')).default;
  const session = await ort.InferenceSession.create(digitsModelPath('release', service.info().variant ?? 'fp32'));
  const reference = Array.from((await session.run({ image: new ort.Tensor('float32', pixels, [1, 1, 8, 8]) }))['logits']!.data as Float32Array);
  await session.release();
  expect(answer.scores).toEqual(reference);
  expect(answer.digit).toBe(reference.indexOf(Math.max(...reference)));
  expect(answer.version).toBe('1.0.0');
  expect(lines[0]).toMatch(/^model digits 1\.0\.0 on cpu \(downloaded\)$/);
  expect((await service.usage()).bytes).toBeGreaterThan(0);
  await service.dispose();
});

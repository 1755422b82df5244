/**
 * @file examples/electron's renderer half (renderer/classify.mjs) in Chromium, the engine of Electron's
 * renderers: the same release, with the browser entry. Electron itself cannot be installed here.
 */
import { expect, test } from 'vitest';
import { rendererModel } from '../../examples/electron/renderer/classify.mjs';
import { engine } from './engine.js';
import { digitsManifest } from './helpers.js';

test.runIf(engine === 'chromium')("the renderer's model classifies a drawn 1, and keeps the caller's pixels", async () => {
  const model = await rendererModel(digitsManifest);
  const pixels = new Float32Array(64);
  for (let row = 1; row < 7; row++) pixels[row * 8 + 4] = 16;
  const answer = await model.classify(pixels);
  expect(answer.version).toBe('1.0.0');
  expect(answer.scores).toHaveLength(10);
  expect(answer.digit).toBe(1);
  // Not detached by the transfer to the worker.
  expect(pixels[12]).toBe(16);
  await model.dispose();
});

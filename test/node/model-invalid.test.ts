/**
 * @file A model no runtime here can ever run (an op or a type it lacks) is MODEL_INVALID naming the
 * runtime's reason, never BACKEND_UNAVAILABLE ("try again later"), on onnxruntime-node; the fixtures
 * are made by models/unsupported/make.mjs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { loadModel } from '../../src/node/index.js';

const cacheDir = mkdtempSync(join(tmpdir(), 'ondevice-invalid-'));
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));
const fixture = (name: string) => fileURLToPath(new URL(`../../models/unsupported/${name}`, import.meta.url));

describe('a model the runtime can never run', () => {
  test.each([
    ['bfloat16 arithmetic', 'bfloat16-add.onnx', /Could not find an implementation for Add/],
    ['a training op', 'training-op.onnx', /Adagrad.* is not a registered function\/op/],
  ])('%s: MODEL_INVALID with the runtime reason and its version', async (_, file, reason) => {
    const error = await loadModel(fixture(file), { cacheDir }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'MODEL_INVALID', message: expect.stringMatching(reason), details: { runtimeVersion: expect.stringMatching(/^onnxruntime-node \d/) } });
    expect((error as Error).message).toMatch(/re-export it for this runtime/);
  });
});

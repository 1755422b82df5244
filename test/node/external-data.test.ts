/**
 * @file `publish` with ONNX external data, checked with onnxruntime-node on the published files: a
 * model whose weights an exporter put in a data file, and `--external-data` splitting a one-file
 * model; and the data files that cannot be published (missing, outside the folder, truncated).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, test } from 'vitest';
import { decodeModel } from '../../src/cli/onnx-model.js';
import { externalDataLocations, renameExternalData } from '../../src/runtime/onnx-external.js';
import { cli } from '../support/cli.js';
import { EXPORTERS, classifierInput, classifierReferences } from '../support/exporters.mjs';

const work = mkdtempSync(join(tmpdir(), 'ondevice-external-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Listed {
  path: string;
  size: number;
  sha256: string;
}

async function logitsOf(modelPath: string, rows = 3): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(modelPath);
  const out = await session.run({ features: new ort.Tensor('float32', classifierInput(rows), [rows, 64]) });
  await session.release();
  return out['logits']!.data as Float32Array;
}

function published(release: string): Listed[] {
  return (JSON.parse(readFileSync(join(release, 'manifest.json'), 'utf8')) as { variants: { fp32: { files: Listed[] } } }).variants.fp32.files;
}

/** The `location` every external tensor of the model names. */
function locations(path: string): string[] {
  const model = decodeModel(readFileSync(path), path);
  return [...new Set(model.graph!.initializer!.filter((t) => t.dataLocation === 1).map((t) => t.externalData!.find((e) => e.key === 'location')!.value!))];
}

describe('publish and ONNX external data', () => {
  test("an exporter's model.onnx + model.onnx_data: both published, the model renamed to name its hashed data file; the outputs are unchanged", async () => {
    const release = join(work, 'exported');
    const run = await cli('publish', join(EXPORTERS, 'external-data'), release, '--version', '1.0.0', '--name', 'classifier');
    expect(run.code, run.err).toBe(0);
    const [model, data] = published(release);
    expect(model!.path).toMatch(/^classifier\.fp32\.[0-9a-f]{8}\.onnx$/);
    expect(data!.path).toMatch(/^classifier\.fp32\.[0-9a-f]{8}\.data$/);
    expect(readFileSync(join(release, data!.path))).toEqual(readFileSync(join(EXPORTERS, 'external-data', 'model.onnx_data')));
    expect(locations(join(release, model!.path))).toEqual([data!.path]);
    const expected = (await classifierReferences())[3]!.logits;
    expect(Array.from(await logitsOf(join(release, model!.path)))).toEqual(expected);
    expect(readFileSync(join(release, '_headers'), 'utf8')).toMatch(/\/\*\.data\n\s+Cache-Control: public, max-age=31536000, immutable/);
  });

  test('--external-data moves the weights of a one-file model into a data file; the outputs are unchanged', async () => {
    const release = join(work, 'split');
    const run = await cli('publish', join(EXPORTERS, 'classifier-2024-05.onnx'), release, '--version', '1.0.0', '--external-data');
    expect(run.code, run.err).toBe(0);
    const [model, data] = published(release);
    // The 64×10 weight (2560 bytes) moved; the 40-byte bias stays in the model.
    expect(data!.size).toBe(2560);
    expect(model!.size).toBeLessThan(readFileSync(join(EXPORTERS, 'classifier-2024-05.onnx')).length - 2000);
    expect(locations(join(release, model!.path))).toEqual([data!.path]);
    expect(Array.from(await logitsOf(join(release, model!.path)))).toEqual((await classifierReferences())[3]!.logits);
  });

  test('a data file that is missing, outside the folder, or truncated: a clear error, and nothing is written', async () => {
    const cases: Array<[string, (dir: string) => void, RegExp]> = [
      ['missing', (dir) => rmSync(join(dir, 'model.onnx_data')), /keeps its weights in "model\.onnx_data".*cannot be read/],
      ['truncated', (dir) => writeFileSync(join(dir, 'model.onnx_data'), readFileSync(join(dir, 'model.onnx_data')).subarray(0, 1000)), /tensor weight lies at bytes 0–2560 of "model\.onnx_data", which has 1000/],
      [
        'outside',
        (dir) => {
          const path = join(dir, 'model.onnx');
          writeFileSync(path, Buffer.from(readFileSync(path).toString('latin1').replace('model.onnx_data', '../el.onnx_data'), 'latin1'));
        },
        /names external data at "\.\.\/el\.onnx_data", outside its folder/,
      ],
    ];
    for (const [name, spoil, message] of cases) {
      const dir = join(work, `bad-${name}`);
      mkdirSync(dir, { recursive: true });
      for (const f of ['model.onnx', 'model.onnx_data']) copyFileSync(join(EXPORTERS, 'external-data', f), join(dir, f));
      spoil(dir);
      const release = join(work, `bad-${name}-release`);
      const run = await cli('publish', dir, release, '--version', '1.0.0');
      expect(run.code, name).toBe(1);
      expect(run.err, name).toMatch(message);
      expect(existsSync(join(release, 'manifest.json')), name).toBe(false);
    }
  });

  test('--external-data on a TF.js model is a usage error', async () => {
    const run = await cli('publish', new URL('../../models/digits-tfjs/layers', import.meta.url).pathname, join(work, 'tfjs'), '--version', '1.0.0', '--external-data');
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/--external-data is for ONNX models/);
  });
});

describe('renaming external data without decoding the model (what transformersCache serves)', () => {
  const dir = 'models/seq2seq/v1/onnx/';
  const model = readFileSync(`${dir}decoder_model.onnx`);
  const data = readFileSync(`${dir}decoder_model.onnx_data`);
  /** The decoder's logits for one step, its data given under `path`. */
  async function logits(bytes: Uint8Array, path: string): Promise<Float32Array> {
    const session = await ort.InferenceSession.create(bytes, { externalData: [{ path, data }] });
    try {
      const out = await session.run({
        input_ids: new ort.Tensor('int64', BigInt64Array.from([1n, 5n]), [1, 2]),
        encoder_hidden_states: new ort.Tensor('float32', Float32Array.from({ length: 3 * 64 }, (_, i) => Math.sin(i)), [1, 3, 64]),
      });
      return out['logits']!.data as Float32Array;
    } finally {
      await session.release();
    }
  }

  test.each([
    ['a short name', 'decoder_model_quantized.onnx_data'],
    // Lengths past 127 bytes take two-byte varints in the entry, the tensor, the graph and the model.
    ['a name whose length needs a longer varint', `${'x'.repeat(200)}.onnx_data`],
  ])('%s: the locations change and nothing else; onnxruntime-node computes the same logits', async (_, to) => {
    expect(externalDataLocations(model)).toEqual(['decoder_model.onnx_data']);
    const renamed = renameExternalData(model, new Map([['decoder_model.onnx_data', to]]));
    expect(externalDataLocations(renamed)).toEqual([to]);
    const original = decodeModel(model, 'decoder_model.onnx');
    const decoded = decodeModel(renamed, 'renamed.onnx');
    for (const init of original.graph!.initializer!) for (const e of init.externalData ?? []) if (e.key === 'location') e.value = to;
    expect(decoded.toJSON()).toEqual(original.toJSON());
    expect(await logits(renamed, to)).toEqual(await logits(model, 'decoder_model.onnx_data'));
  });

  test('a map naming no location of the model leaves its bytes as they are; bytes that are not a model are MODEL_INVALID', () => {
    expect(renameExternalData(model, new Map([['other.onnx_data', 'x']]))).toBe(model);
    expect(() => renameExternalData(model.subarray(0, 40), new Map(), 'cut.onnx')).toThrow(expect.objectContaining({ code: 'MODEL_INVALID' }));
  });
});

/**
 * @file The ONNX project's backend node tests through the library, against onnxruntime-web called
 * directly on the same model and inputs (WASM, in this engine): every case onnxruntime-web runs, the
 * library runs with the same outputs, bit for bit (random ops: the same types and shapes); a case it cannot run, the library refuses with a
 * coded OndeviceError, never a raw one. `npm test` runs the repo's subset (models/onnx-backend, every
 * string case among them); `npm run conformance` runs all of them (scripts/onnx-backend-cases.py).
 */
import * as ort from 'onnxruntime-web/wasm';
import { afterAll, describe, expect, inject, test } from 'vitest';
import { isOndeviceError, loadModel, type Model, type Tensor, type TensorMap } from '../../src/index.js';
import { server } from './helpers.js';

interface CaseTensor {
  name: string;
  type: Tensor['type'];
  dims: number[];
  data: Array<number | string>;
}

const { base, cases } = inject('onnxBackend');

/** Ops that draw random numbers (no seed in the cases): only their outputs' types and shapes can be compared. */
const RANDOM = /^test_(bernoulli|random|multinomial)/;

/** What the run found, printed at the end: runs equal, and the cases onnxruntime-web cannot run either, by the library's code. */
const tally = { equal: 0, refused: new Map<string, string[]>() };
afterAll(() => {
  const refused = [...tally.refused].map(([code, names]) => `${names.length} ${code}: ${names.join(' ')}`).join('; ');
  console.info(`ONNX backend node tests: ${tally.equal} of ${cases.length} equal to onnxruntime-web; ${[...tally.refused.values()].reduce((a, b) => a + b.length, 0)} that onnxruntime-web cannot run either, refused with a code (${refused || 'none'})`);
});

const ARRAYS = { float32: Float32Array, float64: Float64Array, float16: Uint16Array, int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, bool: Uint8Array } as const;
const number = (v: number | string) => (typeof v === 'number' ? v : v === 'NaN' ? Number.NaN : v === 'Infinity' ? Number.POSITIVE_INFINITY : v === '-Infinity' ? Number.NEGATIVE_INFINITY : Number(v));

function tensorOf(t: CaseTensor): Tensor {
  if (t.type === 'string') return { type: 'string', data: t.data.map(String), dims: t.dims };
  if (t.type === 'int64') return { type: 'int64', data: BigInt64Array.from(t.data, (v) => BigInt(v)), dims: t.dims };
  if (t.type === 'uint64') return { type: 'uint64', data: BigUint64Array.from(t.data, (v) => BigInt(v)), dims: t.dims };
  const Kind = ARRAYS[t.type] as unknown as { from(values: number[]): Tensor['data'] };
  return { type: t.type, data: Kind.from(t.data.map(number)), dims: t.dims } as Tensor;
}

/** Element by element, NaN equal to NaN and -0 to -0 (the same runtime must give the same bits). */
function same(a: ArrayLike<unknown>, b: ArrayLike<unknown>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

async function direct(bytes: Uint8Array, inputs: TensorMap): Promise<TensorMap | Error> {
  let session: ort.InferenceSession | undefined;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    const feeds = Object.fromEntries(Object.entries(inputs).map(([name, t]) => [name, new ort.Tensor(t.type, t.data as ort.Tensor.DataType, t.dims)]));
    const out = await session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([name, v]) => [name, { type: v.type, data: v.data, dims: [...v.dims] } as Tensor]));
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  } finally {
    await session?.release().catch(() => undefined);
  }
}

describe(`the ONNX backend node tests (${cases.length} cases from ${base})`, () => {
  test.each(cases)('%s', async (name) => {
    const spec = (await (await fetch(`${server}${base}/${name}/case.json`)).json()) as { inputs: CaseTensor[] };
    const bytes = new Uint8Array(await (await fetch(`${server}${base}/${name}/model.onnx`)).arrayBuffer());
    const inputs = (): TensorMap => Object.fromEntries(spec.inputs.map((t) => [t.name, tensorOf(t)]));
    const expected = await direct(bytes, inputs());
    let model: Model | undefined;
    try {
      model = await loadModel(`${server}${base}/${name}/model.onnx`, { worker: true, backend: 'wasm', update: 'never' });
      const outputs = await model.run(inputs());
      expect(expected, `onnxruntime-web itself failed (${expected instanceof Error ? expected.message : ''}) where the library ran`).not.toBeInstanceOf(Error);
      const want = expected as TensorMap;
      expect(Object.keys(outputs).sort()).toEqual(Object.keys(want).sort());
      for (const [key, t] of Object.entries(want)) {
        const got = outputs[key]!;
        expect({ type: got.type, dims: [...got.dims] }, key).toEqual({ type: t.type, dims: t.dims });
        if (RANDOM.test(name)) continue;
        expect(same(got.data as ArrayLike<unknown>, t.data as ArrayLike<unknown>), `${key}: ${String(Array.from(got.data as ArrayLike<unknown>).slice(0, 8))} vs ${String(Array.from(t.data as ArrayLike<unknown>).slice(0, 8))}`).toBe(true);
      }
      tally.equal++;
    } catch (error) {
      // onnxruntime-web cannot run it either: the library says so with a code.
      if (!(expected instanceof Error) || !isOndeviceError(error)) throw error;
      // What onnxruntime-web can never run (an op, a type, an attribute it lacks) is the model's
      // fault, not this device's: MODEL_INVALID, never BACKEND_UNAVAILABLE ("try again later").
      expect(error.code, `${error.message} (onnxruntime-web: ${expected.message})`).toBe('MODEL_INVALID');
      tally.refused.set(error.code, [...(tally.refused.get(error.code) ?? []), name]);
    } finally {
      await model?.dispose();
    }
  });
});

/**
 * @file `ondevice quantize --to q4` (issue 26, first part): the packing worked out by hand (both
 * signs, an all-zero block, K not a multiple of the block size; symmetric and asymmetric), the layout
 * checked against onnxruntime-node's own MatMulNBits on the same bytes, the refusals, and a whole
 * release of the encoder–decoder example quantized, published and decoded.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, test } from 'vitest';
import { encodeModel, onnx, readModel } from '../../src/cli/onnx-model.js';
import { packQ4, unpackQ4 } from '../../src/cli/quantize-q4.js';
import { loadModel } from '../../src/node/index.js';
import { decode, tokenizerOf } from '../../examples/seq2seq/greedy.js';
import { cli } from '../support/cli.js';
import { SEQ2SEQ, WORDS } from '../support/seq2seq.mjs';

const work = mkdtempSync(join(tmpdir(), 'ondevice-q4-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Column-major helper: [K, N] row-major from N columns. */
function fromColumns(columns: number[][], k: number): Float32Array {
  const out = new Float32Array(k * columns.length);
  columns.forEach((col, c) => col.forEach((v, r) => (out[r * columns.length + c] = v)));
  return out;
}
const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');

describe('packing, worked out by hand: K = 20, block 16 (the second block padded with zeros), N = 2 (the second column all zeros)', () => {
  const zeros = Array<number>(20).fill(0);
  test('symmetric: scale = max |w| / 7, codes round(w / scale) + 8, low nibble first', () => {
    const col = [14, -14, 6, 0, 2, -2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 3, -0.75, 0, 0];
    const packed = packQ4(fromColumns([col, zeros], 20), 20, 2, 16, true);
    // Block 0, scale 2: codes 15 1 | 11 8 | 9 7 | 8 8 ×4 | 8 10.  Block 1, scale 3/7: 15 6 | 8 8 ×7 (padding is 0 → 8).
    expect(hex(packed.b)).toBe(['1f 8b 79 88 88 88 88 a8', '6f 88 88 88 88 88 88 88', '88 88 88 88 88 88 88 88', '88 88 88 88 88 88 88 88'].join(' '));
    expect(Array.from(packed.scales)).toEqual([2, Math.fround(3 / 7), 0, 0]);
    expect(packed.zeroPoints).toBeUndefined();
    const back = unpackQ4(packed, 20, 2, 16);
    expect(back[0]).toBe(14);
    expect(back[1 * 2]).toBe(-14);
    expect(back[16 * 2]).toBeCloseTo(3, 6);
    expect(back[17 * 2]).toBeCloseTo(-6 / 7, 6);
    expect(Array.from(back.filter((_, i) => i % 2 === 1))).toEqual(zeros);
  });

  test('asymmetric: scale = (max − min) / 15 with 0 inside the range, a zero point a block, packed two to a byte', () => {
    const col = [16, -14, 6, 0, 2, -2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 3, -0.75, 0, 0];
    const packed = packQ4(fromColumns([col, zeros], 20), 20, 2, 16, false);
    // Block 0: scale 2, zero 7: codes 15 0 | 10 7 | 8 6 | 7 7 ×4 | 7 9.  Block 1: scale 0.25, zero 3: 15 0 | 3 3 ×7.
    // Column 1: scale 0, zero 0, codes 0.
    expect(hex(packed.b)).toBe(['0f 7a 68 77 77 77 77 97', '0f 33 33 33 33 33 33 33', '00 00 00 00 00 00 00 00', '00 00 00 00 00 00 00 00'].join(' '));
    expect(Array.from(packed.scales)).toEqual([2, 0.25, 0, 0]);
    expect(hex(packed.zeroPoints!)).toBe('37 00');
    // Every value here is on the grid: dequantized exactly.
    expect(Array.from(unpackQ4(packed, 20, 2, 16))).toEqual(Array.from(fromColumns([col, zeros], 20)));
  });
});

/** y = x @ W, one MatMul with W [K, N] an initializer. */
function matmulModel(w: Float32Array, k: number, n: number): Uint8Array {
  const info = (name: string, dims: number[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  return encodeModel(
    onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'mm',
        node: [{ opType: 'MatMul', input: ['x', 'W'], output: ['y'] }],
        initializer: [{ name: 'W', dims: [k, n], dataType: 1, rawData: new Uint8Array(w.buffer.slice(0)) }],
        input: [info('x', [3, k])],
        output: [info('y', [3, n])],
      },
    }),
  );
}

describe('the layout onnxruntime reads', () => {
  test.each([
    [40, 5, 16, true],
    [40, 5, 16, false],
    [96, 7, 32, false],
    [128, 3, 128, true],
  ] as const)('K %i, N %i, block %i, symmetric %s: onnxruntime-node computes x @ (the weights as unpacked here)', async (k, n, block, symmetric) => {
    let seed = k * 31 + n;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 30) - 1;
    const w = Float32Array.from({ length: k * n }, rand);
    const x = Float32Array.from({ length: 3 * k }, rand);
    const path = join(work, `mm-${k}-${n}-${block}-${symmetric}.onnx`);
    writeFileSync(path, matmulModel(w, k, n));
    const out = join(work, `mm-${k}-${n}-${block}-${symmetric}.q4.onnx`);
    const result = await cli('quantize', path, '--to', 'q4', '--block-size', String(block), symmetric ? '--symmetric' : '--asymmetric', '-o', out);
    expect(result.code, result.err).toBe(0);
    const model = await readModel(out);
    expect(model.graph!.node!.map((nd) => `${nd.domain}:${nd.opType}`)).toEqual(['com.microsoft:MatMulNBits']);
    expect(model.graph!.initializer!.map((t) => t.name)).toEqual(symmetric ? ['W_Q4', 'W_scales'] : ['W_Q4', 'W_scales', 'W_zero_points']);
    const session = await ort.InferenceSession.create(out);
    const y = (await session.run({ x: new ort.Tensor('float32', x, [3, k]) }))['y']!.data as Float32Array;
    await session.release();
    const dq = unpackQ4(packQ4(w, k, n, block, symmetric), k, n, block);
    let worst = 0;
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < n; c++) {
        let want = 0;
        for (let i = 0; i < k; i++) want += x[r * k + i]! * dq[i * n + c]!;
        worst = Math.max(worst, Math.abs(y[r * n + c]! - want) / Math.max(1, Math.abs(want)));
      }
    }
    expect(worst).toBeLessThan(1e-4);
  });
});

test('q4f16 of a chain of MatMuls (x @ W1 @ W2): one float16 value between them, not a Cast pair of the same name; onnxruntime-node runs it', async () => {
  const k = 64;
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 30) - 1;
  const weight = (name: string) => ({ name, dims: [k, k], dataType: 1, rawData: new Uint8Array(Float32Array.from({ length: k * k }, () => rand() / 8).buffer) });
  const info = (name: string) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: k }] } } } });
  const path = join(work, 'chain.onnx');
  writeFileSync(path, encodeModel(onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'chain',
      node: [{ opType: 'MatMul', input: ['x', 'W1'], output: ['h'] }, { opType: 'MatMul', input: ['h', 'W2'], output: ['y'] }],
      initializer: [weight('W1'), weight('W2')],
      input: [info('x')],
      output: [info('y')],
    },
  })));
  const x = Float32Array.from({ length: k }, rand);
  const run = async (file: string) => {
    const session = await ort.InferenceSession.create(file);
    const y = (await session.run({ x: new ort.Tensor('float32', x, [1, k]) }))['y']!.data as Float32Array;
    await session.release();
    return y;
  };
  const want = await run(path);
  for (const to of ['q4', 'q4f16']) {
    const out = join(work, `chain.${to}.onnx`);
    const r = await cli('quantize', path, '--to', to, '-o', out);
    expect(r.code, r.err).toBe(0);
    const names = (await readModel(out)).graph!.node!.flatMap((n) => n.output ?? []);
    expect(new Set(names).size).toBe(names.length);
    const y = await run(out);
    expect(Math.max(...y.map((v, i) => Math.abs(v - want[i]!)))).toBeLessThan(0.05);
  }
});

describe('refusals, with nothing written', () => {
  test('--block-size not a power of two of at least 16, or with another target', async () => {
    for (const size of ['24', '8', 'x']) {
      const r = await cli('quantize', join(SEQ2SEQ, 'v1/onnx/encoder_model.onnx'), '--to', 'q4', '--block-size', size, '-o', join(work, 'never.onnx'));
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/--block-size must be a (power of two of at least 16|number)/);
    }
    expect((await cli('quantize', join(SEQ2SEQ, 'v1/onnx/encoder_model.onnx'), '--to', 'int8', '--block-size', '32', '-o', join(work, 'never.onnx'))).err).toMatch(/are for --to q4/);
    expect(existsSync(join(work, 'never.onnx'))).toBe(false);
  });

  test('a model with no eligible MatMul (the digits CNN: Conv and Gemm) says so', async () => {
    const digits = join('models/digits/release', readdirSync('models/digits/release').find((f) => f.includes('fp32'))!);
    const r = await cli('quantize', digits, '--to', 'q4', '-o', join(work, 'digits-q4.onnx'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/nothing to quantize to q4: the model has no MatMul whose weight is a float32 initializer \[K, N\] with K ≥ 32; nothing was written/);
    expect(existsSync(join(work, 'digits-q4.onnx'))).toBe(false);
  });
});

test('--external-data: the weights in <out>_data beside the model; onnxruntime-node gives the same numbers; publish takes both', async () => {
  const repo = join(work, 'kv-external');
  cpSync(join(SEQ2SEQ, 'kv-bench'), repo, { recursive: true });
  const decoder = join(repo, 'onnx', 'decoder_with_past_model.onnx');
  expect((await cli('quantize', decoder, '--to', 'q4', '-o', join(work, 'inside.onnx'))).code).toBe(0);
  const q = await cli('quantize', repo, '--to', 'q4', '--external-data');
  expect(q.code, q.err).toBe(0);
  const outside = join(repo, 'onnx', 'decoder_with_past_model_q4.onnx');
  expect(existsSync(`${outside}_data`)).toBe(true);
  expect(readFileSync(outside).length).toBeLessThan(readFileSync(`${outside}_data`).length / 5);
  const feeds = () => {
    const t = (dims: number[]) => new ort.Tensor('float32', Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i)), dims);
    const f: Record<string, ort.Tensor> = { input_ids: new ort.Tensor('int64', BigInt64Array.of(5n), [1, 1]), encoder_hidden_states: t([1, 2, 128]) };
    for (let l = 0; l < 8; l++) for (const kv of ['key', 'value']) f[`past_key_values.${l}.${kv}`] = t([1, 4, 3, 32]);
    return f;
  };
  const run = async (path: string) => {
    const session = await ort.InferenceSession.create(path);
    const y = (await session.run(feeds()))['logits']!.data as Float32Array;
    await session.release();
    return Array.from(y);
  };
  expect(await run(outside)).toEqual(await run(join(work, 'inside.onnx')));
  const release = join(work, 'kv-external-release');
  expect((await cli('publish', repo, release, '--version', '1.0.0', '--name', 'kv')).code).toBe(0);
  const manifest = JSON.parse(readFileSync(join(release, 'manifest.json'), 'utf8')) as { variants: Record<string, { files: { path: string; graph: string }[] }> };
  expect(manifest.variants['q4']!.files.map((f) => f.path.replace(/\.[0-9a-f]{8}\./, '.#.'))).toEqual(['encoder_model.q4.#.onnx', 'encoder_model.q4.#.data', 'decoder_with_past_model.q4.#.onnx', 'decoder_with_past_model.q4.#.data']);
});

test('a folder whose graph has nothing to quantize (an embedding) still gets a complete variant, for every target', async () => {
  for (const to of ['q4', 'q4f16', 'int8'] as const) {
    const repo = join(work, `kv-${to}`);
    cpSync(join(SEQ2SEQ, 'kv-bench'), repo, { recursive: true });
    const q = await cli('quantize', repo, '--to', to);
    expect(q.code, q.err).toBe(0);
    expect(q.out).toMatch(
      to === 'q4f16' ? /encoder_model_q4f16\.onnx: no MatMul weight to quantize to q4f16; \d+ other weights in float16/ : /encoder_model_(q4|quantized)\.onnx: no (MatMul )?weight to (quantize to q4|convert to int8); written as it is/,
    );
    const release = join(work, `kv-${to}-release`);
    const published = await cli('publish', repo, release, '--version', '1.0.0', '--name', 'kv');
    expect(published.err).not.toMatch(/left out: variant/);
    const manifest = JSON.parse(readFileSync(join(release, 'manifest.json'), 'utf8')) as { variants: Record<string, { files: { size: number; graph: string }[] }> };
    const variant = to;
    expect(manifest.variants[variant]!.files.map((f) => f.graph)).toEqual(['encoder_model', 'decoder_with_past_model']);
    if (to !== 'int8') {
      // The decoder's weights are all MatMuls: q4 keeps under a fifth of its fp32 bytes.
      const decoder = (v: string) => manifest.variants[v]!.files.find((f) => f.graph === 'decoder_with_past_model')!.size;
      expect(decoder(to) / decoder('fp32')).toBeLessThan(0.2);
    }
  }
});

test('the encoder–decoder example: every graph to q4 beside itself, published as a variant, decoded by ondevice/node', async () => {
  const repo = join(work, 'reverse');
  cpSync(join(SEQ2SEQ, 'v1'), repo, { recursive: true });
  const q = await cli('quantize', repo, '--to', 'q4');
  expect(q.code, q.err).toBe(0);
  expect(q.out.match(/MatMul weights converted/g)).toHaveLength(3);
  const release = join(work, 'reverse-release');
  expect((await cli('publish', repo, release, '--version', '1.0.0', '--name', 'reverse')).code).toBe(0);
  const manifest = JSON.parse(readFileSync(join(release, 'manifest.json'), 'utf8')) as { variants: Record<string, { files: { size: number }[] }> };
  expect(Object.keys(manifest.variants)).toEqual(['fp32', 'q4']);
  const size = (v: string) => manifest.variants[v]!.files.reduce((a, f) => a + f.size, 0);
  // Embeddings and layer norms stay float32 here (Gather, not MatMul): the MatMul weights shrink ~7×.
  expect(size('q4') / size('fp32')).toBeLessThan(0.45);
  const cacheDir = join(work, 'cache');
  const fp32 = await loadModel(join(release, 'manifest.json'), { cacheDir, variant: 'fp32' });
  const q4 = await loadModel(join(release, 'manifest.json'), { cacheDir, variant: 'q4' });
  expect(q4.info.variant).toBe('q4');
  const tokenizer = await tokenizerOf(fp32);
  let same = 0;
  for (const word of WORDS) if (JSON.stringify(await decode(q4, tokenizer, word)) === JSON.stringify(await decode(fp32, tokenizer, word))) same++;
  expect(same).toBeGreaterThanOrEqual(WORDS.length - 1);
  await fp32.dispose();
  await q4.dispose();
});

describe('the digits MLP (models/digits-mlp: x @ W layers, as transformer blocks hold their weights)', () => {
  const dir = 'models/digits-mlp/release';
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { variants: Record<string, { files: { path: string; size: number; sha256: string }[] }> };
  const file = (variant: string) => join(dir, manifest.variants[variant]!.files[0]!.path);

  test.each(['q4', 'q4f16'] as const)('the committed %s is what the CLI makes of fp32 today, byte for byte', async (to) => {
    const out = join(work, `mlp.${to}.onnx`);
    const r = await cli('quantize', file('fp32'), '--to', to, '-o', out);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`${to} \\(MatMulNBits, block 32, ${to === 'q4f16' ? 'float16 scales and activations, ' : ''}asymmetric\\), 3 MatMul weights converted`));
    expect(readFileSync(out).equals(readFileSync(file(to)))).toBe(true);
  });

  test('q4 holds MatMulNBits with float32 scales; q4f16 with float16 scales, its activations cast to float16 and back', async () => {
    const q4 = await readModel(file('q4'));
    expect(q4.graph!.node!.filter((n) => n.opType === 'MatMulNBits').map((n) => n.domain)).toEqual(['com.microsoft', 'com.microsoft', 'com.microsoft']);
    expect(q4.graph!.node!.some((n) => n.opType === 'MatMul' || n.opType === 'Cast')).toBe(false);
    expect(q4.graph!.initializer!.filter((t) => t.name!.endsWith('_scales')).map((t) => t.dataType)).toEqual([1, 1, 1]);
    const half = await readModel(file('q4f16'));
    expect(half.graph!.initializer!.filter((t) => t.name!.endsWith('_scales')).map((t) => t.dataType)).toEqual([10, 10, 10]);
    // Each MatMulNBits reads a Cast to float16 and feeds a Cast to float32: the graph's inputs and outputs stay float32.
    const ops = half.graph!.node!.map((n) => n.opType);
    for (let i = ops.indexOf('MatMulNBits'); i >= 0; i = ops.indexOf('MatMulNBits', i + 1)) expect([ops[i - 1], ops[i + 1]]).toEqual(['Cast', 'Cast']);
    // The biases went to float16 as the fp16 variant stores them (each with a Cast back).
    expect(half.graph!.initializer!.filter((t) => t.dataType === 1)).toEqual([]);
  });

  test('sizes, agreement and accuracy (ondevice verify, onnxruntime-node): q4 under a fifth of fp32, top-1 agreement ≥ 99 %, accuracy within 1 point', async () => {
    const { verifyRelease, readTestSet } = await import('../../src/cli/verify.js');
    const report = await verifyRelease(dir, await readTestSet('models/digits/test-set.json'), { minAgreement: 0.99 });
    expect(report.failures).toEqual([]);
    const row = (v: string) => report.rows.find((r) => r.variant === v)!;
    for (const v of ['q4', 'q4f16']) {
      expect(row(v).sizeRatio).toBeLessThanOrEqual(0.2);
      expect(row(v).agreement).toBeGreaterThanOrEqual(0.99);
      expect((row('fp32').accuracy! - row(v).accuracy!) * 100).toBeLessThanOrEqual(1 + 1e-9);
    }
    expect(row('int8').sizeRatio).toBeGreaterThan(row('q4').sizeRatio);
    // The 4-bit allowance is a default, not a floor: a publisher who asks for 0.5 points for every variant gets it.
    const strict = await verifyRelease(dir, await readTestSet('models/digits/test-set.json'), { minAgreement: 0.99, maxAccuracyDrop: 0.5 });
    expect(strict.failures).toEqual([expect.stringMatching(/^q4: accuracy 97\.78% is more than 0\.5 points below fp32's 98\.33%/), expect.stringMatching(/^q4f16: /)]);
  });
});

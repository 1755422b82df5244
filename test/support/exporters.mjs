/** @file Models as other exporters write them (models/exporters/), and onnxruntime-node's outputs for them. */
import { fileURLToPath } from 'node:url';

/**
 * Where this test run's generated releases go, under models/generated/: one folder per vitest
 * process, so that runs at once (one per engine, or two suites on one machine) never rewrite each
 * other's files. global-setup.ts removes it when the run ends, and those of runs that died.
 */
export const RUN_DIR = `runs/${process.pid}`;

export const EXPORTERS = fileURLToPath(new URL('../../models/exporters/', import.meta.url));

/** A fixed input of `rows` × 64 features, the same in Node and in the browser. */
export function classifierInput(rows = 3) {
  return Float32Array.from({ length: rows * 64 }, (_, i) => (i % 17) * 0.05 - 0.4);
}

/**
 * onnxruntime-node's logits for classifier-2024-05.onnx (a free first dimension) at 1 and 3 rows.
 * @returns {Promise<Record<string, { logits: number[], dims: number[] }>>}
 */
export async function classifierReferences() {
  const ort = (await import('onnxruntime-node')).default;
  const session = await ort.InferenceSession.create(`${EXPORTERS}classifier-2024-05.onnx`);
  /** @type {Record<string, { logits: number[], dims: number[] }>} */
  const out = {};
  for (const rows of [1, 3]) {
    const result = await session.run({ features: new ort.Tensor('float32', classifierInput(rows), [rows, 64]) });
    const logits = result['logits'];
    if (!logits) throw new Error('the classifier has no output "logits"');
    out[rows] = { logits: Array.from(/** @type {Float32Array} */ (logits.data)), dims: [...logits.dims] };
  }
  await session.release();
  return out;
}

/** The fixed input of the quantize fixtures: two rows of 64 (the CLI tests use the same). */
export function mlpInput() {
  return Float32Array.from({ length: 128 }, (_, i) => (i % 13) * 0.07 - 0.4);
}

/**
 * Releases made at test time with the library's own CLI from the exporters' fixtures and the TF.js
 * digits model, one variant per quantization (generated, never committed), and the reference outputs
 * for every variant: onnxruntime-node for ONNX, TF.js's CPU backend for TF.js.
 * @returns {Promise<Record<string, { manifest: string, inputs: Record<string, { type: string, data: number[], dims: number[] }>, variants: Record<string, { logits: number[], dims: number[] }> }>>}
 */
export async function quantizedReleases() {
  const { mkdirSync, rmSync, copyFileSync, readdirSync, readFileSync } = await import('node:fs');
  const { main } = await import('../../src/cli/main.js');
  const { tfjsLogitsOf } = await import('./digits-tfjs.mjs');
  const root = fileURLToPath(new URL(`../../models/generated/${RUN_DIR}/quantized/`, import.meta.url));
  rmSync(root, { recursive: true, force: true });
  const io = { out: () => undefined, err: (/** @type {string} */ t) => console.error(t) };
  const run = async (/** @type {string[]} */ ...argv) => {
    if ((await main(argv, io)) !== 0) throw new Error(`ondevice ${argv.join(' ')} failed`);
  };
  const ort = (await import('onnxruntime-node')).default;
  /** @type {Awaited<ReturnType<typeof quantizedReleases>>} */
  const out = {};
  /** @type {Array<[string, Record<string, { type: string, data: number[], dims: number[] }>]>} */
  const models = [['weights-as-constants', {}], ['if-subgraph', { cond: { type: 'bool', data: [1], dims: [] } }]];
  for (const [name, extra] of models) {
    const src = `${root}${name}-src/`;
    mkdirSync(src, { recursive: true });
    copyFileSync(`${EXPORTERS}${name}.onnx`, `${src}fp32.onnx`);
    await run('quantize', `${src}fp32.onnx`, '--to', 'int8', '-o', `${src}int8.onnx`);
    await run('quantize', `${src}fp32.onnx`, '--to', 'fp16', '-o', `${src}fp16.onnx`);
    await run('publish', src, `${root}${name}`, '--version', '1.0.0', '--name', name);
    const manifest = JSON.parse(readFileSync(`${root}${name}/manifest.json`, 'utf8'));
    const inputs = { x: { type: 'float32', data: Array.from(mlpInput()), dims: [2, 64] }, ...extra };
    /** @type {Record<string, { logits: number[], dims: number[] }>} */
    const variants = {};
    for (const variant of Object.keys(manifest.variants)) {
      // The graph's own arithmetic: at its 'extended' level onnxruntime-node fuses DequantizeLinear →
      // MatMul into an integer MatMul that quantizes the activations too (int8 outputs move by ~4e-4);
      // 'basic' computes what the graph says, dequantized weights times float inputs.
      const session = await ort.InferenceSession.create(`${root}${name}/${manifest.variants[variant].files[0].path}`, { graphOptimizationLevel: 'basic' });
      /** @type {Record<string, any>} */
      const feeds = { x: new ort.Tensor('float32', mlpInput(), [2, 64]) };
      if ('cond' in extra) feeds['cond'] = new ort.Tensor('bool', [true], []);
      const result = /** @type {any} */ (Object.values(await session.run(feeds))[0]);
      variants[variant] = { logits: Array.from(/** @type {Float32Array} */ (result.data)), dims: [...result.dims] };
      await session.release();
    }
    out[name] = { manifest: `/generated/${RUN_DIR}/quantized/${name}/manifest.json`, inputs, variants };
  }
  // The TF.js digits layers model, quantized three ways.
  const tfjsDir = fileURLToPath(new URL('../../models/digits-tfjs/layers/', import.meta.url));
  const json = readdirSync(tfjsDir).find((f) => f.endsWith('.json') && !f.startsWith('manifest'));
  const src = `${root}tfjs-src/`;
  mkdirSync(`${src}fp32`, { recursive: true });
  for (const f of readdirSync(tfjsDir)) if (f.endsWith('.bin')) copyFileSync(`${tfjsDir}${f}`, `${src}fp32/${f}`);
  copyFileSync(`${tfjsDir}${json}`, `${src}fp32/model.json`);
  for (const to of ['fp16', 'uint8', 'uint16']) await run('quantize', `${tfjsDir}${json}`, '--to', to, '-o', `${src}${to}/model.json`);
  await run('publish', src, `${root}tfjs`, '--version', '1.0.0', '--name', 'digits-layers');
  const manifest = JSON.parse(readFileSync(`${root}tfjs/manifest.json`, 'utf8'));
  /** @type {Record<string, { logits: number[], dims: number[] }>} */
  const variants = {};
  for (const variant of Object.keys(manifest.variants)) {
    const [model, ...shards] = manifest.variants[variant].files.map((/** @type {{ path: string }} */ f) => f.path);
    variants[variant] = await tfjsLogitsOf(`${root}tfjs/`, model, shards);
  }
  out['tfjs'] = { manifest: `/generated/${RUN_DIR}/quantized/tfjs/manifest.json`, inputs: {}, variants };
  return out;
}

/** Frame `t` of the stateful model's input (16 samples). @param {number} t */
export function vadFrame(t) {
  return Float32Array.from({ length: 16 }, (_, i) => Math.sin(i * 0.7 + t));
}

export const VAD_STEPS = 6;

/**
 * The stateful model published with the CLI from its file (`vad_v5-stateful.onnx`, one variant),
 * and onnxruntime-node's outputs over VAD_STEPS calls, each call's `stateN` fed back as `state`.
 * @returns {Promise<{ manifest: string, ys: number[], state: number[] }>}
 */
export async function statefulRelease() {
  const { main } = await import('../../src/cli/main.js');
  const root = fileURLToPath(new URL(`../../models/generated/${RUN_DIR}/stateful/`, import.meta.url));
  const { rmSync } = await import('node:fs');
  rmSync(root, { recursive: true, force: true });
  const code = await main(['publish', `${EXPORTERS}vad_v5-stateful.onnx`, root, '--version', '1.0.0'], { out: () => undefined, err: (t) => console.error(t) });
  if (code !== 0) throw new Error('publishing vad_v5-stateful.onnx failed');
  const ort = (await import('onnxruntime-node')).default;
  const session = await ort.InferenceSession.create(`${EXPORTERS}vad_v5-stateful.onnx`);
  /** @type {Float32Array<ArrayBufferLike>} */
  let state = new Float32Array(8);
  /** @type {number[]} */
  const ys = [];
  for (let t = 0; t < VAD_STEPS; t++) {
    const out = await session.run({ x: new ort.Tensor('float32', vadFrame(t), [1, 16]), state: new ort.Tensor('float32', state, [1, 8]), sr: new ort.Tensor('int64', BigInt64Array.from([16000n]), []) });
    ys.push(Number(/** @type {Float32Array} */ (out['y']?.data)[0]));
    state = /** @type {Float32Array} */ (out['stateN']?.data);
  }
  await session.release();
  return { manifest: `/generated/${RUN_DIR}/stateful/manifest.json`, ys, state: Array.from(state) };
}

/**
 * The classifier with its weights in ONNX external data, published with the CLI two ways: as an
 * exporter wrote it (external-data/model.onnx + model.onnx_data), and from its one-file form with
 * `--external-data`. Their outputs are the classifier's (classifierReferences).
 * @returns {Promise<Record<'exported' | 'split', string>>}
 */
export async function externalDataReleases() {
  const { main } = await import('../../src/cli/main.js');
  const root = fileURLToPath(new URL(`../../models/generated/${RUN_DIR}/external/`, import.meta.url));
  const { rmSync } = await import('node:fs');
  rmSync(root, { recursive: true, force: true });
  const io = { out: () => undefined, err: (/** @type {string} */ t) => console.error(t) };
  for (const argv of [
    ['publish', `${EXPORTERS}external-data`, `${root}exported`, '--version', '1.0.0', '--name', 'classifier'],
    ['publish', `${EXPORTERS}classifier-2024-05.onnx`, `${root}split`, '--version', '1.0.0', '--name', 'classifier', '--external-data'],
  ]) {
    if ((await main(argv, io)) !== 0) throw new Error(`ondevice ${argv.join(' ')} failed`);
  }
  return { exported: `/generated/${RUN_DIR}/external/exported/manifest.json`, split: `/generated/${RUN_DIR}/external/split/manifest.json` };
}

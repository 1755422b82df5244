/**
 * Train the TF.js digits models with TF.js itself, in Node, and publish them with the project's CLI.
 *
 *     npm run build && node models/digits-tfjs/train.mjs
 *
 * Data: scikit-learn's bundled digits (digits.csv.gz; Debian's python3-sklearn has it, or set
 * DIGITS_CSV). The held-out set is models/digits/test-set.bin, the same 360 images the ONNX model
 * is scored on (a single channel makes its [N, 1, 8, 8] bytes the same as [N, 8, 8, 1]); every
 * other image trains.
 *
 * Writes, next to this script:
 *   layers/        "digits-layers" 1.0.0: a small CNN (one convolution: TF.js's plain-JS CPU backend
 *                  trains a second one ten times slower) saved as a TF.js layers model (model.json and
 *                  two weight shards, as tfjs converters shard), published with `ondevice publish`
 *   layers-next/   1.1.0 of the same, trained with another seed (the update tests' next release)
 *   graph/         "digits-graph" 1.0.0: a two-layer MLP on the flattened image, written as a TF.js
 *                  graph model (GraphDef JSON: Placeholder, MatMul, BiasAdd, Relu) from its trained weights
 *   test-set.json  the held-out labels with the layers model's input shape (the `verify --data` format)
 *
 * TF.js's CPU backend is plain JavaScript, initialisers are seeded and the batches are shuffled
 * by a seeded generator, so a rerun on the same TF.js version writes the same bytes.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const WORK = `${HERE}.work/`;
const CSV_PLACES = [process.env.DIGITS_CSV, '/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz'];

/** mulberry32: a tiny seeded generator, so batch order is reproducible. */
function generator(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function loadData() {
  const csv = CSV_PLACES.find((p) => p && existsSync(p));
  if (!csv) throw new Error('digits.csv.gz not found: apt-get install python3-sklearn, or set DIGITS_CSV');
  const rows = gunzipSync(readFileSync(csv))
    .toString('utf8')
    .trim()
    .split('\n')
    .map((line) => line.split(',').map(Number));
  const meta = JSON.parse(readFileSync(`${HERE}../digits/test-set.json`, 'utf8'));
  const raw = readFileSync(`${HERE}../digits/${meta.file}`);
  const test = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  // Each held-out image removes one identical row (pixels / 16 and label); the rest train.
  const key = (pixels, label) => `${label}:${pixels.join(',')}`;
  const held = new Map();
  for (let i = 0; i < meta.labels.length; i++) {
    const k = key(Array.from(test.subarray(i * 64, i * 64 + 64), (v) => Math.round(v * 16)), meta.labels[i]);
    held.set(k, (held.get(k) ?? 0) + 1);
  }
  const train = [];
  for (const row of rows) {
    const k = key(row.slice(0, 64), row[64]);
    if (held.get(k)) held.set(k, held.get(k) - 1);
    else train.push(row);
  }
  if ([...held.values()].some((n) => n !== 0)) throw new Error('the held-out set is not a subset of digits.csv.gz');
  const x = new Float32Array(train.length * 64);
  train.forEach((row, i) => x.set(row.slice(0, 64).map((v) => v / 16), i * 64));
  return { x, y: train.map((row) => row[64]), test, testLabels: meta.labels };
}

function cnn(seed) {
  const init = (n) => tfl.initializers.glorotUniform({ seed: seed * 100 + n });
  const image = tfl.input({ shape: [8, 8, 1], name: 'image' });
  let h = tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(1), name: 'conv' }).apply(image);
  h = tfl.layers.maxPooling2d({ poolSize: 2, name: 'pool' }).apply(h);
  h = tfl.layers.flatten({ name: 'flatten' }).apply(h);
  h = tfl.layers.dense({ units: 32, activation: 'relu', kernelInitializer: init(3), name: 'hidden' }).apply(h);
  const logits = tfl.layers.dense({ units: 10, kernelInitializer: init(4), name: 'logits' }).apply(h);
  return tfl.model({ inputs: image, outputs: logits, name: 'digits_cnn' });
}

function mlp(seed) {
  const init = (n) => tfl.initializers.glorotUniform({ seed: seed * 100 + n });
  const image = tfl.input({ shape: [64], name: 'image' });
  const h = tfl.layers.dense({ units: 32, activation: 'relu', kernelInitializer: init(5), name: 'hidden' }).apply(image);
  const logits = tfl.layers.dense({ units: 10, kernelInitializer: init(6), name: 'logits' }).apply(h);
  return tfl.model({ inputs: image, outputs: logits, name: 'digits_mlp' });
}

async function train(model, data, shape, seed, epochs) {
  // The models output logits; tfjs-layers' named cross-entropy losses expect probabilities.
  model.compile({ optimizer: tf.train.adam(2e-3), loss: (labels, logits) => tf.losses.softmaxCrossEntropy(labels, logits) });
  const random = generator(seed);
  const n = data.y.length;
  const batch = 64;
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let start = 0; start < n; start += batch) {
      const idx = order.slice(start, start + batch);
      const xb = new Float32Array(idx.length * 64);
      idx.forEach((k, i) => xb.set(data.x.subarray(k * 64, k * 64 + 64), i * 64));
      const xs = tf.tensor(xb, [idx.length, ...shape]);
      const ys = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(idx.map((k) => data.y[k]), 'int32'), 10), 'float32'));
      await model.trainOnBatch(xs, ys);
      tf.dispose([xs, ys]);
    }
  }
}

function accuracy(model, data, shape) {
  return tf.tidy(() => {
    const predicted = tf.argMax(model.predict(tf.tensor(data.test, [data.testLabels.length, ...shape])), 1).dataSync();
    return data.testLabels.filter((label, i) => predicted[i] === label).length / data.testLabels.length;
  });
}

/** Saves a layers model as model.json plus `shards` weight files split at byte boundaries, as tfjs converters do. */
async function saveLayers(model, dir, shards) {
  const artifacts = await model.save(tf.io.withSaveHandler(async (a) => ({ modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' }, artifacts: a })));
  const saved = artifacts.artifacts ?? artifacts;
  const weights = new Uint8Array(tf.io.concatenateArrayBuffers([saved.weightData].flat()));
  const size = Math.ceil(weights.length / shards);
  const paths = Array.from({ length: shards }, (_, i) => `group1-shard${i + 1}of${shards}.bin`);
  mkdirSync(dir, { recursive: true });
  paths.forEach((p, i) => writeFileSync(`${dir}/${p}`, weights.subarray(i * size, (i + 1) * size)));
  const json = { format: 'layers-model', generatedBy: `TensorFlow.js tfjs-layers v${tfl.version_layers}`, convertedBy: null, modelTopology: saved.modelTopology, weightsManifest: [{ paths, weights: saved.weightSpecs }] };
  writeFileSync(`${dir}/model.json`, JSON.stringify(json));
}

const dim = (n) => ({ size: String(n) });
const floatTensor = (shape) => ({ dtype: 'DT_FLOAT', tensorShape: { dim: shape.map(dim) } });

/** Writes the trained MLP as a graph model: logits = relu(image · W1 + b1) · W2 + b2. */
async function saveGraph(model, dir) {
  const [w1, b1, w2, b2] = await Promise.all(model.getWeights().map((w) => w.data()));
  const [hidden, classes] = [b1.length, b2.length];
  const T = { T: { type: 'DT_FLOAT' } };
  const konst = (name, shape) => ({ name, op: 'Const', attr: { value: { tensor: floatTensor(shape) }, dtype: { type: 'DT_FLOAT' } } });
  const nodes = [
    { name: 'image', op: 'Placeholder', attr: { shape: { shape: { dim: [dim(-1), dim(64)] } }, dtype: { type: 'DT_FLOAT' } } },
    konst('dense_1/kernel', [64, hidden]),
    konst('dense_1/bias', [hidden]),
    konst('dense_2/kernel', [hidden, classes]),
    konst('dense_2/bias', [classes]),
    { name: 'dense_1/MatMul', op: 'MatMul', input: ['image', 'dense_1/kernel'], attr: { transpose_a: { b: false }, transpose_b: { b: false }, ...T } },
    { name: 'dense_1/BiasAdd', op: 'BiasAdd', input: ['dense_1/MatMul', 'dense_1/bias'], attr: { data_format: { s: 'TkhXQw==' }, ...T } },
    { name: 'dense_1/Relu', op: 'Relu', input: ['dense_1/BiasAdd'], attr: T },
    { name: 'dense_2/MatMul', op: 'MatMul', input: ['dense_1/Relu', 'dense_2/kernel'], attr: { transpose_a: { b: false }, transpose_b: { b: false }, ...T } },
    { name: 'dense_2/BiasAdd', op: 'BiasAdd', input: ['dense_2/MatMul', 'dense_2/bias'], attr: { data_format: { s: 'TkhXQw==' }, ...T } },
    { name: 'logits', op: 'Identity', input: ['dense_2/BiasAdd'], attr: T },
  ];
  const weights = [
    ['dense_1/kernel', [64, hidden], w1],
    ['dense_1/bias', [hidden], b1],
    ['dense_2/kernel', [hidden, classes], w2],
    ['dense_2/bias', [classes], b2],
  ];
  const json = {
    format: 'graph-model',
    generatedBy: 'models/digits-tfjs/train.mjs',
    convertedBy: null,
    modelTopology: { node: nodes, library: {}, versions: { producer: 1 } },
    signature: {
      inputs: { image: { name: 'image:0', ...floatTensor([-1, 64]) } },
      outputs: { logits: { name: 'logits:0', ...floatTensor([-1, classes]) } },
    },
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: weights.map(([name, shape]) => ({ name, shape, dtype: 'float32' })) }],
  };
  mkdirSync(dir, { recursive: true });
  const bytes = new Uint8Array(weights.reduce((n, [, , data]) => n + data.byteLength, 0));
  let offset = 0;
  for (const [, , data] of weights) {
    bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
    offset += data.byteLength;
  }
  writeFileSync(`${dir}/group1-shard1of1.bin`, bytes);
  writeFileSync(`${dir}/model.json`, JSON.stringify(json));
}

function publish(source, folder, version, name) {
  const out = `${HERE}${folder}`;
  rmSync(out, { recursive: true, force: true });
  execFileSync('node', [CLI, 'publish', source, out, '--version', version, '--name', name], { stdio: 'inherit' });
}

async function main() {
  if (!existsSync(CLI)) throw new Error('build the package first: npm run build (the CLI is dist/cli.js)');
  await tf.setBackend('cpu');
  tf.enableProdMode();
  rmSync(WORK, { recursive: true, force: true });
  const data = loadData();
  const labels = Array.from({ length: 10 }, (_, d) => String(d));
  for (const [folder, version, seed] of [['layers', '1.0.0', 0], ['layers-next', '1.1.0', 1]]) {
    const model = cnn(seed);
    await train(model, data, [8, 8, 1], seed, 30);
    const acc = accuracy(model, data, [8, 8, 1]);
    console.error(`layers ${version}: held-out accuracy ${acc.toFixed(4)}`);
    const source = `${WORK}${folder}/digits-layers`;
    await saveLayers(model, source, 2);
    writeFileSync(`${source}/metadata.json`, JSON.stringify({ labels, heldOutAccuracy: Number(acc.toFixed(4)) }));
    publish(source, folder, version, 'digits-layers');
  }
  const model = mlp(0);
  await train(model, data, [64], 0, 60);
  const acc = accuracy(model, data, [64]);
  console.error(`graph 1.0.0: held-out accuracy ${acc.toFixed(4)}`);
  const source = `${WORK}graph/digits-graph`;
  await saveGraph(model, source);
  writeFileSync(`${source}/metadata.json`, JSON.stringify({ labels, heldOutAccuracy: Number(acc.toFixed(4)) }));
  publish(source, 'graph', '1.0.0', 'digits-graph');
  const n = data.testLabels.length;
  writeFileSync(`${HERE}test-set.json`, JSON.stringify({ input: 'image', dims: [n, 8, 8, 1], file: '../digits/test-set.bin', labels: data.testLabels }));
}

await main();

/**
 * @file The TF.js digits releases and TF.js's own CPU result for them in Node: the reference the
 * browser's outputs are compared with. It reads model.json and the shards itself and hands TF.js the
 * artifacts directly, independently of the library's adapter.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { digitsTestSet } from './digits.mjs';

const DIR = fileURLToPath(new URL('../../models/digits-tfjs/', import.meta.url));

/** @param {'layers' | 'layers-next' | 'graph'} release */
export function tfjsManifest(release) {
  return JSON.parse(readFileSync(`${DIR}${release}/manifest.json`, 'utf8'));
}

/**
 * TF.js CPU logits for the held-out set, one batch.
 * @param {'layers' | 'layers-next' | 'graph'} release
 * @returns {Promise<{ logits: number[], dims: number[] }>}
 */
export async function tfjsReferenceLogits(release) {
  const [modelFile, ...shards] = tfjsManifest(release).variants.fp32.files;
  return tfjsLogitsOf(`${DIR}${release}/`, modelFile.path, shards.map((/** @type {{ path: string }} */ s) => s.path));
}

/**
 * TF.js CPU logits for the held-out set, one batch, of the model.json at `dir + json` with these shards.
 * @param {string} dir @param {string} jsonPath @param {string[]} shardPaths
 * @returns {Promise<{ logits: number[], dims: number[] }>}
 */
export async function tfjsLogitsOf(dir, jsonPath, shardPaths) {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-cpu');
  tf.enableProdMode();
  await tf.setBackend('cpu');
  const json = JSON.parse(readFileSync(`${dir}${jsonPath}`, 'utf8'));
  const weights = Buffer.concat(shardPaths.map((p) => readFileSync(`${dir}${p}`)));
  const artifacts = {
    modelTopology: json.modelTopology,
    format: json.format,
    signature: json.signature,
    weightSpecs: json.weightsManifest.flatMap((/** @type {{ weights: unknown[] }} */ g) => g.weights),
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
  };
  const { images, count } = digitsTestSet();
  const graph = json.format === 'graph-model';
  const model = graph
    ? await (await import('@tensorflow/tfjs-converter')).loadGraphModel(tf.io.fromMemory(artifacts))
    : await (await import('@tensorflow/tfjs-layers')).loadLayersModel(tf.io.fromMemory(artifacts));
  const input = tf.tensor(images, graph ? [count, 64] : [count, 8, 8, 1]);
  const output = /** @type {import('@tensorflow/tfjs-core').Tensor} */ (graph ? /** @type {any} */ (model).execute(input) : /** @type {any} */ (model).predict(input));
  const logits = Array.from(await output.data());
  const dims = [...output.shape];
  tf.dispose([input, output]);
  model.dispose();
  return { logits, dims };
}

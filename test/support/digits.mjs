/** @file The digits releases (the CNN in `models/digits/`, the MatMul MLP in `models/digits-mlp/`) and their held-out set, read in Node. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DIR = fileURLToPath(new URL('../../models/digits/', import.meta.url));
/** The MLP whose weights are MatMuls (4-bit variants); same data split, so the same held-out set. */
const MLP_DIR = fileURLToPath(new URL('../../models/digits-mlp/', import.meta.url));

export function digitsManifest() {
  return JSON.parse(readFileSync(`${DIR}release/manifest.json`, 'utf8'));
}

/** @param {'release' | 'next' | 'mlp'} [release] @param {string} [variant] */
export function digitsModelPath(release = 'release', variant = 'fp32') {
  const dir = release === 'mlp' ? `${MLP_DIR}release/` : `${DIR}${release}/`;
  const manifest = JSON.parse(readFileSync(`${dir}manifest.json`, 'utf8'));
  return `${dir}${manifest.variants[variant].files[0].path}`;
}

/** The variants of the MatMul MLP's release (fp32, int8, q4, q4f16). */
export function mlpVariants() {
  return Object.keys(JSON.parse(readFileSync(`${MLP_DIR}release/manifest.json`, 'utf8')).variants);
}

/** @returns {{ images: Float32Array, labels: number[], count: number, dims: number[] }} */
export function digitsTestSet() {
  const meta = JSON.parse(readFileSync(`${DIR}test-set.json`, 'utf8'));
  const raw = readFileSync(`${DIR}${meta.file}`);
  const images = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  return { images, labels: meta.labels, count: meta.dims[0], dims: meta.dims };
}

/**
 * Reference logits from onnxruntime-node for the whole held-out set, in one batch.
 * @returns {Promise<{ logits: number[], dims: number[] }>}
 */
export async function referenceLogits(/** @type {'release' | 'next' | 'mlp'} */ release = 'release', variant = 'fp32') {
  const ort = (await import('onnxruntime-node')).default;
  const session = await ort.InferenceSession.create(digitsModelPath(release, variant));
  const { images, dims } = digitsTestSet();
  const out = await session.run({ image: new ort.Tensor('float32', images, dims) });
  const logits = out.logits;
  if (!logits) throw new Error('the digits model has no output "logits"');
  await session.release();
  return { logits: Array.from(/** @type {Float32Array} */ (logits.data)), dims: [...logits.dims] };
}

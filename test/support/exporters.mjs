/** @file Models as other exporters write them (models/exporters/), and onnxruntime-node's outputs for them. */
import { fileURLToPath } from 'node:url';

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

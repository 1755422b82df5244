/**
 * @file The encoder–decoder example (models/seq2seq, issue 24) for the tests: its two versions
 * published with the CLI in the transformers.js layout, and onnxruntime-node's greedy decoding of the
 * held-out words on the exported files themselves (the reference every engine must match token for token).
 */
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RUN_DIR } from './exporters.mjs';

export const SEQ2SEQ = fileURLToPath(new URL('../../models/seq2seq/', import.meta.url));
/** The words the tests decode: the first of the held-out list (each decode is ~10 runs). */
export const WORDS = /** @type {string[]} */ (JSON.parse(readFileSync(`${SEQ2SEQ}words.json`, 'utf8'))).slice(0, 6);

/**
 * Publishes 1.0.0 alone (`v1`) and 1.0.0 then 2.0.0 (`both`) into this run's generated folder.
 * @param {string} [root] where to publish (default: models/generated/<run>/seq2seq/)
 * @returns {Promise<{ root: string, v1: string, both: string }>} the manifests' paths under models/ (root: the folder)
 */
export async function seq2seqReleases(root = fileURLToPath(new URL(`../../models/generated/${RUN_DIR}/seq2seq/`, import.meta.url))) {
  await publishTwoVersions(SEQ2SEQ, root, 'reverse');
  return { root, v1: `/generated/${RUN_DIR}/seq2seq/v1/manifest.json`, both: `/generated/${RUN_DIR}/seq2seq/both/manifest.json` };
}

/**
 * Publishes `<models>v1` as 1.0.0 alone into `<root>v1`, and 1.0.0 then `<models>v2` as 2.0.0 into
 * `<root>both` (one URL that moves from one version to the next), with the CLI.
 * @param {string} models a folder holding v1/ and v2/, ending in `/`
 * @param {string} root where to publish, ending in `/`
 * @param {string} name the model's name
 */
export async function publishTwoVersions(models, root, name) {
  const { main } = await import('../../src/cli/main.js');
  rmSync(root, { recursive: true, force: true });
  const io = { out: () => undefined, err: () => undefined };
  for (const argv of [
    ['publish', `${models}v1`, `${root}v1`, '--version', '1.0.0', '--name', name],
    ['publish', `${models}v1`, `${root}both`, '--version', '1.0.0', '--name', name],
    ['publish', `${models}v2`, `${root}both`, '--version', '2.0.0', '--name', name],
  ]) {
    if ((await main(argv, io)) !== 0) throw new Error(`ondevice ${argv.join(' ')} failed`);
  }
}

/**
 * onnxruntime-node's greedy loop on `weights`' exported files, with `tokens`' tokenizer: the token
 * ids it emits for each word. With another version's tokenizer it shows what a mixed device would say.
 * @param {'v1' | 'v2'} weights
 * @param {'v1' | 'v2'} [tokens]
 * @param {{ dir?: string, suffix?: string }} [files] another folder of graphs (with its `onnx/`), and the variant's file suffix (`_q4`)
 * @returns {Promise<Record<string, number[]>>}
 */
export async function referenceDecodes(weights, tokens = weights, files = {}) {
  const ort = (await import('onnxruntime-node')).default;
  const dir = `${files.dir ?? `${SEQ2SEQ}${weights}`}/onnx/`;
  const tokenizer = JSON.parse(readFileSync(`${SEQ2SEQ}${tokens}/tokenizer.json`, 'utf8'));
  const sessions = await Promise.all(['encoder_model', 'decoder_model', 'decoder_with_past_model'].map((g) => ort.InferenceSession.create(`${dir}${g}${files.suffix ?? ''}.onnx`)));
  const [encoder, first, withPast] = /** @type {[import('onnxruntime-node').InferenceSession, import('onnxruntime-node').InferenceSession, import('onnxruntime-node').InferenceSession]} */ (sessions);
  const int64 = (/** @type {number[]} */ ids) => new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]);
  /** @type {Record<string, number[]>} */
  const out = {};
  for (const word of WORDS) {
    const hidden = /** @type {import('onnxruntime-node').Tensor} */ ((await encoder.run({ input_ids: int64([...word].map((c) => tokenizer.vocab[c])) }))['last_hidden_state']);
    /** @type {Record<string, import('onnxruntime-node').Tensor>} */
    let step = await first.run({ input_ids: int64([tokenizer.bos]), encoder_hidden_states: hidden });
    const emitted = [];
    for (let i = 0; i < 12; i++) {
      const logits = /** @type {import('onnxruntime-node').Tensor} */ (step['logits']);
      const token = argmaxLast(/** @type {Float32Array} */ (logits.data), logits.dims);
      if (token === tokenizer.eos) break;
      emitted.push(token);
      const [key, value] = /** @type {[import('onnxruntime-node').Tensor, import('onnxruntime-node').Tensor]} */ ([step['present.0.key'], step['present.0.value']]);
      step = await withPast.run({ input_ids: int64([token]), encoder_hidden_states: hidden, 'past_key_values.0.key': key, 'past_key_values.0.value': value });
    }
    out[word] = emitted;
  }
  await Promise.all([encoder, first, withPast].map((s) => s.release()));
  return out;
}

/**
 * The index of the largest logit in the last row of logits [1, T, V].
 * @param {Float32Array} data
 * @param {readonly number[]} dims
 */
export function argmaxLast(data, dims) {
  const vocab = /** @type {number} */ (dims[dims.length - 1]);
  const start = data.length - vocab;
  let best = 0;
  for (let j = 1; j < vocab; j++) if (/** @type {number} */ (data[start + j]) > /** @type {number} */ (data[start + best])) best = j;
  return best;
}

/**
 * 1.0.0 with a q4 variant (issue 26): the example copied into this run's folder, every graph
 * quantized to 4 bits by the CLI beside itself, published; and onnxruntime-node's tokens on those
 * q4 files.
 * @returns {Promise<{ manifest: string, tokens: Record<string, number[]> }>}
 */
export async function seq2seqQ4Release() {
  const { main } = await import('../../src/cli/main.js');
  const { cpSync } = await import('node:fs');
  const root = fileURLToPath(new URL(`../../models/generated/${RUN_DIR}/seq2seq-q4/`, import.meta.url));
  rmSync(root, { recursive: true, force: true });
  cpSync(`${SEQ2SEQ}v1`, `${root}repo`, { recursive: true });
  const io = { out: () => undefined, err: () => undefined };
  for (const argv of [
    ['quantize', `${root}repo`, '--to', 'q4'],
    ['publish', `${root}repo`, `${root}release`, '--version', '1.0.0', '--name', 'reverse'],
  ]) {
    if ((await main(argv, io)) !== 0) throw new Error(`ondevice ${argv.join(' ')} failed`);
  }
  return { manifest: `/generated/${RUN_DIR}/seq2seq-q4/release/manifest.json`, tokens: await referenceDecodes('v1', 'v1', { dir: `${root}repo`, suffix: '_q4' }) };
}

/** The decoder-only loop the tests run on kv-bench: from these encoder ids and first token, this many tokens. */
export const KV_BENCH_RUN = { inputIds: [3, 4, 5, 6], first: 1, tokens: 6 };

/**
 * kv-bench (models/seq2seq/kv-bench: random weights, no positional table, so its loop runs as long
 * as it is let), published as 1.0.0; and onnxruntime-node's greedy tokens on its files, from an
 * empty cache (one zero position, as the bench starts). A loop with no eos and no real bound ends only
 * when it is aborted: what the abort tests need, with no race to lose.
 * @param {string} [root] where to publish (default: models/generated/<run>/kv-bench/)
 * @returns {Promise<{ root: string, manifest: string, tokens: number[] }>}
 */
export async function kvBenchRelease(root = fileURLToPath(new URL(`../../models/generated/${RUN_DIR}/kv-bench/`, import.meta.url))) {
  const { main } = await import('../../src/cli/main.js');
  rmSync(root, { recursive: true, force: true });
  const io = { out: () => undefined, err: () => undefined };
  const argv = ['publish', `${SEQ2SEQ}kv-bench`, root, '--version', '1.0.0', '--name', 'kv-bench'];
  if ((await main(argv, io)) !== 0) throw new Error(`ondevice ${argv.join(' ')} failed`);

  const ort = (await import('onnxruntime-node')).default;
  const dir = `${SEQ2SEQ}kv-bench/onnx/`;
  const [encoder, decoder] = await Promise.all(['encoder_model', 'decoder_with_past_model'].map((g) => ort.InferenceSession.create(`${dir}${g}.onnx`)));
  const int64 = (/** @type {number[]} */ ids) => new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]);
  const hidden = /** @type {import('onnxruntime-node').Tensor} */ ((await /** @type {import('onnxruntime-node').InferenceSession} */ (encoder).run({ input_ids: int64(KV_BENCH_RUN.inputIds) }))['last_hidden_state']);
  /** @type {Record<string, import('onnxruntime-node').Tensor>} */
  let feeds = { input_ids: int64([KV_BENCH_RUN.first]), encoder_hidden_states: hidden };
  for (let l = 0; l < 8; l++) for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = new ort.Tensor('float32', new Float32Array(4 * 32), [1, 4, 1, 32]);
  const tokens = [];
  while (tokens.length < KV_BENCH_RUN.tokens) {
    const out = await /** @type {import('onnxruntime-node').InferenceSession} */ (decoder).run(feeds);
    const logits = /** @type {import('onnxruntime-node').Tensor} */ (out['logits']);
    const token = argmaxLast(/** @type {Float32Array} */ (logits.data), logits.dims);
    tokens.push(token);
    feeds = { input_ids: int64([token]), encoder_hidden_states: hidden };
    for (let l = 0; l < 8; l++) for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = /** @type {import('onnxruntime-node').Tensor} */ (out[`present.${l}.${kv}`]);
  }
  await Promise.all([encoder, decoder].map((s) => s?.release()));
  return { root, manifest: `/generated/${RUN_DIR}/kv-bench/manifest.json`, tokens };
}

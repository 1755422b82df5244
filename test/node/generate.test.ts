/**
 * @file `model.generate()` in ondevice/node: the greedy decode loop run where the model runs, in one
 * call. Its tokens equal onnxruntime-node's own loop on the same files (the encoder–decoder example,
 * kv-bench's 16-tensor cache, and a decoder-only step whose attention mask grows), it streams them in
 * order, counts each step as a run, frees what it kept, stops between two steps on abort, and refuses
 * options that name what the model lacks. Real ondevice/node on releases published with the CLI.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { decode, tokenizerOf } from '../../examples/seq2seq/greedy.js';
import { main } from '../../src/cli/main.js';
import { loadModel, type GenerateEncoder, type GenerateOptions, type Model, type Tensor, type TensorRef } from '../../src/node/index.js';
import { KV_BENCH_RUN, kvBenchRelease, referenceDecodes, seq2seqReleases, WORDS } from '../support/seq2seq.mjs';

const MASKED = fileURLToPath(new URL('../../models/exporters/decoder-with-mask.onnx', import.meta.url));
let root = '';
let cacheDir = '';
let reverse = '';
let kvBench: { manifest: string; tokens: number[] };
let masked = '';
let references: Record<string, number[]> = {};
const models: Model[] = [];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'ondevice-generate-release-'));
  const seq2seq = await seq2seqReleases(`${root}/seq2seq/`);
  reverse = `${seq2seq.root}v1/manifest.json`;
  const kv = await kvBenchRelease(`${root}/kv-bench/`);
  kvBench = { manifest: `${kv.root}manifest.json`, tokens: kv.tokens };
  const io = { out: () => undefined, err: () => undefined };
  expect(await main(['publish', MASKED, `${root}/masked`, '--version', '1.0.0', '--name', 'masked'], io)).toBe(0);
  masked = `${root}/masked/manifest.json`;
  references = await referenceDecodes('v1');
}, 60_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeEach(() => {
  cacheDir = mkdtempSync(join(tmpdir(), 'ondevice-generate-'));
  return async () => {
    for (const m of models.splice(0)) await m.dispose();
    rmSync(cacheDir, { recursive: true, force: true });
  };
});

async function load(path: string): Promise<Model> {
  const model = await loadModel(path, { cacheDir });
  models.push(model);
  return model;
}

const int64 = (values: number[]): Tensor => ({ type: 'int64', data: BigInt64Array.from(values.map(BigInt)), dims: [1, values.length] });
const KV_LAYERS = 8;
const kvFeed = Object.fromEntries(Array.from({ length: KV_LAYERS }, (_, l) => ['key', 'value'].map((kv) => [`past_key_values.${l}.${kv}`, `present.${l}.${kv}`])).flat());
/** kv-bench's first step: the encoder's output kept, the first token, and an empty cache (one zero position). */
async function kvStart(model: Model): Promise<Record<string, Tensor | TensorRef>> {
  const hidden = (await model.run({ input_ids: int64(KV_BENCH_RUN.inputIds) }, { graph: 'encoder_model', keep: true }))['last_hidden_state']!;
  const inputs: Record<string, Tensor | TensorRef> = { input_ids: int64([KV_BENCH_RUN.first]), encoder_hidden_states: hidden };
  for (const past of Object.keys(kvFeed)) inputs[past] = { type: 'float32', data: new Float32Array(4 * 32), dims: [1, 4, 1, 32] };
  return inputs;
}

describe('the encoder–decoder example', () => {
  test('one generate() call equals onnxruntime-node token for token; the step-by-step loops (kept and not) agree; tokens stream in order', async () => {
    const model = await load(reverse);
    const tokenizer = await tokenizerOf(model);
    for (const word of WORDS) {
      const told: Array<[number, number]> = [];
      const tokens = await model.generate(
        { input_ids: int64([tokenizer.bos]), encoder_hidden_states: (await model.run({ input_ids: int64([...word].map((c) => tokenizer.vocab[c]!)) }, { graph: 'encoder_model' }))['last_hidden_state'] as Tensor },
        { graph: 'decoder_model', nextGraph: 'decoder_with_past_model', feed: { 'past_key_values.0.key': 'present.0.key', 'past_key_values.0.value': 'present.0.value' }, eos: tokenizer.eos, maxTokens: 12, onToken: (token, index) => void told.push([token, index]) },
      );
      expect(tokens).toEqual(references[word]);
      expect(told).toEqual(tokens.map((t, i) => [t, i]));
      expect(await decode(model, tokenizer, word, { loop: 'steps' })).toEqual(references[word]);
      expect(await decode(model, tokenizer, word, { loop: 'steps', keep: false })).toEqual(references[word]);
    }
    // Nothing the loops kept is left behind.
    expect((await model.stats()).kept).toBe(0);
  });

  test('a step input with no source (not given, not fed, not the token) is refused before anything runs', async () => {
    const model = await load(reverse);
    const hidden: Tensor = { type: 'float32', data: new Float32Array(64), dims: [1, 1, 64] };
    const error = await model.generate({ input_ids: int64([1]), encoder_hidden_states: hidden }, { graph: 'decoder_model', nextGraph: 'decoder_with_past_model', feed: {}, maxTokens: 3 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'INPUT_INVALID', details: { input: 'feed', expected: ['past_key_values.0.key', 'past_key_values.0.value'] } });
    expect((error as Error).message).toMatch(/graph "decoder_with_past_model" needs "past_key_values.0.key", "past_key_values.0.value" at every step after the first: give them in the inputs \(kept as they are\), or name them in "feed"/);
    expect((await model.stats()).runs).toBe(0);
  });

  test('option encoder: the encoder runs in the same call and feeds every step; the tokens equal onnxruntime-node, and nothing it kept is left', async () => {
    const model = await load(reverse);
    const tokenizer = await tokenizerOf(model);
    const feed = { 'past_key_values.0.key': 'present.0.key', 'past_key_values.0.value': 'present.0.value' };
    for (const word of WORDS) {
      const runs = (await model.stats()).runs;
      const tokens = await model.generate(
        { input_ids: int64([tokenizer.bos]) },
        { encoder: { graph: 'encoder_model', inputs: { input_ids: int64([...word].map((c) => tokenizer.vocab[c]!)) }, feed: { encoder_hidden_states: 'last_hidden_state' } }, graph: 'decoder_model', nextGraph: 'decoder_with_past_model', feed, eos: tokenizer.eos, maxTokens: 12 },
      );
      expect(tokens).toEqual(references[word]);
      // The encoder's run counts as a run; then one a token, and the one that chose eos.
      expect((await model.stats()).runs - runs).toBe(1 + tokens.length + (tokens.length < 12 ? 1 : 0));
    }
    expect((await model.stats()).kept).toBe(0);
    // An encoder input may be a ref the app kept: used, not freed.
    const word = WORDS[0]!;
    const hidden = (await model.run({ input_ids: int64([...word].map((c) => tokenizer.vocab[c]!)) }, { graph: 'encoder_model', keep: true }))['last_hidden_state'] as TensorRef;
    expect((await model.stats()).kept).toBe(1);
    expect(await model.generate({ input_ids: int64([tokenizer.bos]), encoder_hidden_states: hidden }, { graph: 'decoder_model', nextGraph: 'decoder_with_past_model', feed, eos: tokenizer.eos, maxTokens: 12 })).toEqual(references[word]);
    expect((await model.stats()).kept).toBe(1);
    await hidden.dispose();
  });

  test('option encoder: each refusal is INPUT_INVALID naming the option, before anything runs', async () => {
    const model = await load(reverse);
    const feed = { 'past_key_values.0.key': 'present.0.key', 'past_key_values.0.value': 'present.0.value' };
    const source = { input_ids: int64([3, 4, 5]) };
    const encoder = { graph: 'encoder_model', inputs: source, feed: { encoder_hidden_states: 'last_hidden_state' } };
    const base = { graph: 'decoder_model', nextGraph: 'decoder_with_past_model', feed, maxTokens: 3 };
    const refused = async (options: GenerateOptions, input: string, message: RegExp, inputs: Record<string, Tensor> = { input_ids: int64([1]) }) => {
      const error = await model.generate(inputs, options).catch((e: unknown) => e);
      expect(error, message.source).toMatchObject({ code: 'INPUT_INVALID', details: { input } });
      expect((error as Error).message).toMatch(message);
    };
    await refused({ ...base, encoder: { ...encoder, graph: 'encoder' } }, 'encoder.graph', /option "encoder.graph": this model has no graph "encoder"; its graphs are "encoder_model", "decoder_model", "decoder_with_past_model"/);
    await refused({ ...base, encoder: { ...encoder, feed: { encoder_hidden_states: 'hidden' } } }, 'encoder.feed', /maps "encoder_hidden_states" to "hidden", not an output of graph "encoder_model"; its outputs are "last_hidden_state"/);
    await refused({ ...base, encoder: { ...encoder, feed: { ...encoder.feed, hidden: 'last_hidden_state' } } }, 'encoder.feed', /names "hidden", not an input of graph "decoder_model" or "decoder_with_past_model"/);
    await refused({ ...base, encoder: { ...encoder, feed: { encoder_hidden_states: 'last_hidden_state', 'past_key_values.0.key': 'last_hidden_state' } } }, 'encoder.feed', /"past_key_values.0.key", which the loop already fills/);
    await refused({ ...base, encoder: { ...encoder, feed: {} } }, 'encoder.feed', /\{ input: output \} pairs/);
    await refused({ ...base, encoder: 'encoder_model' as unknown as GenerateEncoder }, 'encoder', /\{ graph, inputs, feed \}/);
    // Given in the inputs and fed from the encoder: one way only.
    await refused({ ...base, encoder }, 'encoder.feed', /"encoder_hidden_states" is given in the inputs and fed from the encoder/, { input_ids: int64([1]), encoder_hidden_states: { type: 'float32', data: new Float32Array(64), dims: [1, 1, 64] } });
    // The encoder's inputs are checked as run() checks a graph's.
    const wrongType = await model.generate({ input_ids: int64([1]) }, { ...base, encoder: { ...encoder, inputs: { input_ids: { type: 'float32', data: new Float32Array(3), dims: [1, 3] } } } }).catch((e: unknown) => e);
    expect(wrongType).toMatchObject({ code: 'INPUT_INVALID', details: { input: 'input_ids', option: 'encoder.inputs' } });
    expect((wrongType as Error).message).toMatch(/^generate\(\): option "encoder.inputs": .*must be int64, got float32/);
    await expect(model.generate({ input_ids: int64([1]) }, { ...base, encoder: { ...encoder, inputs: {} } })).rejects.toMatchObject({ code: 'INPUT_INVALID', details: { input: 'input_ids', option: 'encoder.inputs' } });
    // Without the encoder's feed the step's input has no source: the call's own check says so.
    await expect(model.generate({ input_ids: int64([1]) }, base)).rejects.toMatchObject({ code: 'INPUT_INVALID', details: { input: 'encoder_hidden_states' } });
    expect((await model.stats()).runs).toBe(0);
    // The model decodes after all of them.
    expect(await model.generate({ input_ids: int64([1]) }, { ...base, encoder })).toHaveLength(3);
  });

  test('maxTokens ends the loop after that many tokens (eos not met): as many runs as tokens', async () => {
    const model = await load(reverse);
    const tokenizer = await tokenizerOf(model);
    const word = WORDS.find((w) => references[w]!.length >= 3)!;
    const before = (await model.stats()).runs;
    const tokens = await decode(model, tokenizer, word, { maxTokens: 2 });
    expect(tokens).toEqual(references[word]!.slice(0, 2));
    // The encoder's run, then one decoder step a token: no step is run whose token would be dropped.
    expect((await model.stats()).runs - before).toBe(1 + 2);
  });
});

describe('kv-bench (16 cache tensors, no positional table)', () => {
  test('generate() equals onnxruntime-node; an app ref among the inputs is not freed by the loop', async () => {
    const model = await load(kvBench.manifest);
    const inputs = await kvStart(model);
    expect(await model.generate(inputs, { graph: 'decoder_with_past_model', feed: kvFeed, maxTokens: KV_BENCH_RUN.tokens })).toEqual(kvBench.tokens);
    // The encoder output is the app's ref: still usable, and the only thing kept.
    expect((await model.stats()).kept).toBe(1);
    expect(await model.generate(await kvStart(model).then((i) => ({ ...i, encoder_hidden_states: inputs['encoder_hidden_states']! })), { graph: 'decoder_with_past_model', feed: kvFeed, maxTokens: 3 })).toEqual(kvBench.tokens.slice(0, 3));
  });

  test('option encoder on a single step graph: its output is given to every step unchanged; the tokens equal onnxruntime-node', async () => {
    const model = await load(kvBench.manifest);
    const inputs: Record<string, Tensor> = { input_ids: int64([KV_BENCH_RUN.first]) };
    for (const past of Object.keys(kvFeed)) inputs[past] = { type: 'float32', data: new Float32Array(4 * 32), dims: [1, 4, 1, 32] };
    const encoder = { graph: 'encoder_model', inputs: { input_ids: int64(KV_BENCH_RUN.inputIds) }, feed: { encoder_hidden_states: 'last_hidden_state' } };
    expect(await model.generate(inputs, { encoder, graph: 'decoder_with_past_model', feed: kvFeed, maxTokens: KV_BENCH_RUN.tokens })).toEqual(kvBench.tokens);
    expect((await model.stats()).kept).toBe(0);
    // Aborted mid-loop, the encoder's output is freed with the cache.
    const controller = new AbortController();
    const fresh = { ...inputs, ...Object.fromEntries(Object.keys(kvFeed).map((p) => [p, { type: 'float32', data: new Float32Array(4 * 32), dims: [1, 4, 1, 32] } as Tensor])) };
    const aborted = await model
      .generate({ ...fresh, input_ids: int64([KV_BENCH_RUN.first]) }, { encoder: { ...encoder, inputs: { input_ids: int64(KV_BENCH_RUN.inputIds) } }, graph: 'decoder_with_past_model', feed: kvFeed, maxTokens: 2 ** 31 - 1, signal: controller.signal, onToken: (_, index) => void (index === 1 && controller.abort()) })
      .catch((e: unknown) => e);
    expect(aborted).toMatchObject({ code: 'ABORTED' });
    expect((await model.stats()).kept).toBe(0);
  });

  test('an abort stops the loop between two steps: ABORTED, nothing left kept, and the model decodes on', async () => {
    const model = await load(kvBench.manifest);
    const inputs = await kvStart(model);
    const controller = new AbortController();
    const told: number[] = [];
    // No eos and no real bound: the loop ends only through the abort, whenever it is heard.
    const aborted = await model
      .generate(inputs, { graph: 'decoder_with_past_model', feed: kvFeed, maxTokens: 2 ** 31 - 1, signal: controller.signal, onToken: (token, index) => {
        told.push(token);
        if (index === 2) controller.abort();
      } })
      .catch((e: unknown) => e);
    expect(aborted).toMatchObject({ code: 'ABORTED', details: { reason: 'abort' } });
    // In this thread onToken runs inside the loop: the step after the third token never ran.
    expect(told).toEqual(kvBench.tokens.slice(0, 3));
    await (inputs['encoder_hidden_states'] as TensorRef).dispose();
    expect((await model.stats()).kept).toBe(0);
    expect((await model.stats()).failures).toMatchObject({ ABORTED: 1 });
    expect(await model.generate(await kvStart(model), { graph: 'decoder_with_past_model', feed: kvFeed, maxTokens: KV_BENCH_RUN.tokens })).toEqual(kvBench.tokens);
    // A signal aborted before the call: nothing runs.
    const runs = (await model.stats()).runs;
    await expect(model.generate(await kvStart(model), { graph: 'decoder_with_past_model', feed: kvFeed, maxTokens: 3, signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORTED' });
    expect((await model.stats()).runs).toBe(runs + 1); // the encoder run of kvStart only
  });

  test('dispose() or reload() during the loop ends it before its next step: DISPOSED, or ABORTED that says to call again', async () => {
    const model = await load(kvBench.manifest);
    // In this thread onToken runs inside the loop: the reload has freed every kept value before the next step.
    const reloaded = await model.generate(await kvStart(model), { graph: 'decoder_with_past_model', feed: kvFeed, maxTokens: 2 ** 31 - 1, onToken: (_, index) => void (index === 1 && model.reload()) }).catch((e: unknown) => e);
    expect(reloaded).toMatchObject({ code: 'ABORTED', details: { reason: 'reload' } });
    expect((reloaded as Error).message).toMatch(/reload\(\).*call it again/);
    expect(await model.generate(await kvStart(model), { graph: 'decoder_with_past_model', feed: kvFeed, maxTokens: KV_BENCH_RUN.tokens })).toEqual(kvBench.tokens);
    const disposed = await model.generate(await kvStart(model), { graph: 'decoder_with_past_model', feed: kvFeed, maxTokens: 2 ** 31 - 1, onToken: (_, index) => void (index === 1 && model.dispose()) }).catch((e: unknown) => e);
    expect(disposed).toMatchObject({ code: 'DISPOSED' });
  });
});

describe('a decoder-only step with an attention mask (models/exporters/decoder-with-mask.onnx)', () => {
  /** onnxruntime-node's loop on the file: mask one longer and the cache fed back at each step. */
  async function reference(steps: number): Promise<number[]> {
    const session = await ort.InferenceSession.create(readFileSync(MASKED));
    let [mask, past, id] = [[1, 1, 1], [0], 1];
    const tokens: number[] = [];
    for (let i = 0; i < steps; i++) {
      const out = await session.run({
        input_ids: new ort.Tensor('int64', BigInt64Array.of(BigInt(id)), [1, 1]),
        attention_mask: new ort.Tensor('int64', BigInt64Array.from(mask.map(BigInt)), [1, mask.length]),
        past_key_values: new ort.Tensor('float32', Float32Array.from(past), [1, past.length]),
      });
      const logits = out['logits']!.data as Float32Array;
      id = logits.indexOf(Math.max(...logits));
      tokens.push(id);
      past = [...(out['present']!.data as Float32Array)];
      mask = [...mask, 1];
    }
    await session.release();
    return tokens;
  }
  const start = (): Record<string, Tensor> => ({ input_ids: int64([1]), attention_mask: int64([1, 1, 1]), past_key_values: { type: 'float32', data: new Float32Array(1), dims: [1, 1] } });

  test('the mask grows a position a step and the cache is fed back: the tokens equal onnxruntime-node', async () => {
    const model = await load(masked);
    const expected = await reference(6);
    expect(expected).toEqual([3, 5, 9, 15, 9, 9]);
    expect(await model.generate(start(), { feed: { past_key_values: 'present' }, attentionMask: 'attention_mask', maxTokens: 6 })).toEqual(expected);
    // Without the option the mask stays as given, and the loop picks other tokens.
    expect(await model.generate(start(), { feed: { past_key_values: 'present' }, maxTokens: 6 })).not.toEqual(expected);
    // eos ends it, the eos token not returned.
    expect(await model.generate(start(), { feed: { past_key_values: 'present' }, attentionMask: 'attention_mask', maxTokens: 6, eos: [15, 14] })).toEqual([3, 5, 9]);
  });

  test('every refusal is INPUT_INVALID naming the option, before anything runs', async () => {
    const model = await load(masked);
    const runs = (await model.stats()).runs;
    const feed = { past_key_values: 'present' };
    const refused = async (options: GenerateOptions, input: string, message: RegExp, inputs: Record<string, Tensor> = start()) => {
      const error = await model.generate(inputs, options).catch((e: unknown) => e);
      expect(error, input).toMatchObject({ code: 'INPUT_INVALID', details: { input } });
      expect((error as Error).message).toMatch(message);
    };
    await refused({ graph: 'decoder', feed, maxTokens: 3 }, 'graph', /no graph "decoder"; its graphs are "model"/);
    await refused({ nextGraph: 'decoder', feed, maxTokens: 3 }, 'nextGraph', /no graph "decoder"/);
    await refused({ feed: { past: 'present' }, maxTokens: 3 }, 'feed', /"past", not an input of graph "model"/);
    await refused({ feed: { past_key_values: 'presents' }, maxTokens: 3 }, 'feed', /"presents", which is not an output/);
    await refused({ feed: { input_ids: 'present', past_key_values: 'present' }, maxTokens: 3 }, 'feed', /the token's own input/);
    await refused({ feed, token: { output: 'scores' }, maxTokens: 3 }, 'token.output', /"scores"/);
    await refused({ feed, token: { input: 'past_key_values' }, maxTokens: 3 }, 'token.input', /"past_key_values" is float32; it must be int64 or int32/);
    await refused({ feed, maxTokens: 0 }, 'maxTokens', /positive integer/);
    await refused({ feed, maxTokens: 1.5 }, 'maxTokens', /positive integer/);
    await refused({ feed, maxTokens: 3, eos: [-1] }, 'eos', /token id/);
    await refused({ feed, maxTokens: 3, attentionMask: 'mask' }, 'attentionMask', /"mask", not an input/);
    await refused({ feed: 'present' as unknown as Record<string, string>, maxTokens: 3 }, 'feed', /\{ input: output \}/);
    // The first step's inputs are checked as run() checks them.
    const { attention_mask: _, ...withoutMask } = start();
    await expect(model.generate(withoutMask, { feed, maxTokens: 3 })).rejects.toMatchObject({ code: 'INPUT_INVALID', details: { input: 'attention_mask' } });
    // Nothing ran, and the refusals are counted where stats() counts a refused run.
    expect((await model.stats()).runs).toBe(runs);
    expect((await model.stats()).failures['INPUT_INVALID']).toBeGreaterThanOrEqual(13);
    // The model works after all of them.
    expect(await model.generate(start(), { feed, attentionMask: 'attention_mask', maxTokens: 2 })).toEqual([3, 5]);
  });
});

/**
 * @file A release of three graphs and three assets (issue 24) in the browser: the encoder–decoder
 * example published with the CLI, decoded greedily with its key/value cache kept where the model runs
 * (worker and page; WASM, and WebGPU where the engine has it, where the cache stays in GPU buffers),
 * token for token equal to onnxruntime-node's loop on the same files; an update moves graphs and
 * tokenizer together; kept refs are refused once freed.
 */
import { describe, expect, inject, test } from 'vitest';
import { decode, tokenizerOf } from '../../examples/seq2seq/greedy.js';
import { loadModel, modelCache, type Model, type Tensor, type TensorRef } from '../../src/index.js';
import { usable } from './engine.js';
import { server } from './helpers.js';
import { LiveHost, type ManifestJson } from './live.js';

const seq2seq = inject('seq2seq');

async function decodeAll(model: Model): Promise<Record<string, number[]>> {
  const tokenizer = await tokenizerOf(model);
  const out: Record<string, number[]> = {};
  for (const word of seq2seq.words) out[word] = await decode(model, tokenizer, word);
  return out;
}

describe.each([true, false])('several graphs (worker: %s)', (worker) => {
  test.each(usable(['wasm', 'webgpu'] as const))('decoding on %s with the cache kept equals onnxruntime-node token for token; the tokenizer is the release\'s', async (backend) => {
    await modelCache.clear();
    const model = await loadModel(`${server}${seq2seq.v1}`, { backend, worker, update: 'blocking' });
    expect(model.info).toMatchObject({ backend, version: '1.0.0' });
    expect(Object.keys(model.info.graphs)).toEqual(['encoder_model', 'decoder_model', 'decoder_with_past_model']);
    expect(model.info.assets.map((a) => a.name)).toEqual(['config.json', 'generation_config.json', 'tokenizer.json']);
    expect((await tokenizerOf(model)).version).toBe('1.0.0');
    expect(await decodeAll(model)).toEqual(seq2seq.tokens['1.0.0']);
    // Every ref the loop kept was freed where the model runs (sent with the next run, not one by one).
    expect((await model.stats()).kept).toBe(0);
    // Two decodes at once (a page that starts a new word before the last one ends): their runs of the
    // model's graphs interleave, and each still decodes as if alone.
    const [w0, w1] = [seq2seq.words[0]!, seq2seq.words[1]!];
    expect(await Promise.all([decode(model, await tokenizerOf(model), w0), decode(model, await tokenizerOf(model), w1)])).toEqual([seq2seq.tokens['1.0.0'][w0], seq2seq.tokens['1.0.0'][w1]]);
    // The same loop driven from the page one run() a token, the cache kept as refs, and with every
    // output crossing to the page (the cost without keep): the same tokens.
    const tokenizer = await tokenizerOf(model);
    expect(await decode(model, tokenizer, seq2seq.words[0]!, { loop: 'steps' })).toEqual(seq2seq.tokens['1.0.0'][seq2seq.words[0]!]);
    expect(await decode(model, tokenizer, seq2seq.words[0]!, { loop: 'steps', keep: false })).toEqual(seq2seq.tokens['1.0.0'][seq2seq.words[0]!]);
    // generate() streams each token, in order, as it is chosen.
    const told: string[] = [];
    const tokens = await decode(model, tokenizer, seq2seq.words[1]!, { onToken: (_, letter) => void told.push(letter) });
    expect(told.join('')).toBe(tokens.map((t) => Object.keys(tokenizer.vocab).find((k) => tokenizer.vocab[k] === t)).join(''));
    expect(told.join('')).toBe([...seq2seq.words[1]!].reverse().join(''));
    // A kept output reads back; once disposed it is refused, and dispose() frees the rest.
    const kept = await model.run({ input_ids: { type: 'int64', data: BigInt64Array.from([5n, 6n]), dims: [1, 2] } }, { graph: 'encoder_model', keep: true });
    const ref = kept['last_hidden_state'] as TensorRef;
    expect(ref).toMatchObject({ kept: true, type: 'float32', dims: [1, 2, 64], location: backend === 'webgpu' ? 'gpu-buffer' : 'cpu' });
    expect((await model.read(ref)).data).toHaveLength(128);
    expect((await model.stats()).kept).toBe(1);
    await ref.dispose();
    expect((await model.stats()).kept).toBe(0);
    await expect(model.read(ref)).rejects.toMatchObject({ code: 'INPUT_INVALID' });
    await model.dispose();
  });
});

describe.each([true, false])('generate() with its encoder (worker: %s)', (worker) => {
  test('a refused call detaches nothing and the model decodes on with the same tensors; a valid one moves the encoder\'s input to the worker', async () => {
    const model = await loadModel(`${server}${seq2seq.v1}`, { backend: 'wasm', worker });
    const tokenizer = await tokenizerOf(model);
    const word = seq2seq.words[0]!;
    const source: Tensor = { type: 'int64', data: BigInt64Array.from([...word].map((c) => BigInt(tokenizer.vocab[c]!))), dims: [1, word.length] };
    const start: Tensor = { type: 'int64', data: BigInt64Array.of(BigInt(tokenizer.bos)), dims: [1, 1] };
    const encoder = { graph: 'encoder_model', inputs: { input_ids: source }, feed: { encoder_hidden_states: 'last_hidden_state' } };
    const feed = { 'past_key_values.0.key': 'present.0.key', 'past_key_values.0.value': 'present.0.value' };
    const options = { encoder, graph: 'decoder_model', nextGraph: 'decoder_with_past_model', feed, eos: tokenizer.eos, maxTokens: 12 };
    // The later steps' cache has no source: refused on this side, before anything is sent.
    const refused = await model.generate({ input_ids: start }, { ...options, feed: {} }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'INPUT_INVALID', details: { input: 'feed' } });
    expect([source.data.buffer.byteLength, start.data.buffer.byteLength]).toEqual([8 * word.length, 8]);
    expect((await model.stats()).runs).toBe(0);
    // The same tensors decode: the encoder's run and every step in one call, as onnxruntime-node decodes.
    expect(await model.generate({ input_ids: start }, options)).toEqual(seq2seq.tokens['1.0.0'][word]);
    // Into a worker the encoder's input moved, as run()'s inputs do; in the page it stays.
    expect(source.data.buffer.byteLength).toBe(worker ? 0 : 8 * word.length);
    expect((await model.stats()).kept).toBe(0);
    await model.dispose();
  });
});

describe.each([true, false])('generate() on kv-bench, 16 cache tensors (worker: %s)', (worker) => {
  const kvBench = inject('kvBench');
  const feed = Object.fromEntries(Array.from({ length: 8 }, (_, l) => ['key', 'value'].map((kv) => [`past_key_values.${l}.${kv}`, `present.${l}.${kv}`])).flat());
  const ids = (values: number[]): Tensor => ({ type: 'int64', data: BigInt64Array.from(values.map(BigInt)), dims: [1, values.length] });
  /** The first step's inputs, made anew for each call (a worker takes the buffers it is given). */
  const start = (hidden: TensorRef): Record<string, Tensor | TensorRef> => {
    const inputs: Record<string, Tensor | TensorRef> = { input_ids: ids([1]), encoder_hidden_states: hidden };
    for (const past of Object.keys(feed)) inputs[past] = { type: 'float32', data: new Float32Array(4 * 32), dims: [1, 4, 1, 32] };
    return inputs;
  };
  test.each(usable(['wasm', 'webgpu'] as const))('on %s it equals onnxruntime-node; an abort stops it between two steps and the model decodes on', async (backend) => {
    await modelCache.clear();
    const model = await loadModel(`${server}${kvBench.manifest}`, { backend, worker, update: 'blocking' });
    const hidden = (await model.run({ input_ids: ids([3, 4, 5, 6]) }, { graph: 'encoder_model', keep: true }))['last_hidden_state'] as TensorRef;
    expect(await model.generate(start(hidden), { graph: 'decoder_with_past_model', feed, maxTokens: kvBench.tokens.length })).toEqual(kvBench.tokens);
    // No eos and no real bound: the loop ends only through the abort, whenever the worker hears it.
    const controller = new AbortController();
    const told: number[] = [];
    const aborted = await model
      .generate(start(hidden), { graph: 'decoder_with_past_model', feed, maxTokens: 2 ** 31 - 1, signal: controller.signal, onToken: (token, index) => {
        told.push(token);
        if (index === 2) controller.abort();
      } })
      .catch((e: unknown) => e);
    expect(aborted).toMatchObject({ code: 'ABORTED', details: { reason: 'abort' } });
    expect(told.length).toBeGreaterThanOrEqual(3);
    expect(told.slice(0, kvBench.tokens.length)).toEqual(kvBench.tokens.slice(0, Math.min(told.length, kvBench.tokens.length)));
    // The app's ref (the encoder's output) is the only thing kept: the loop freed its own.
    expect((await model.stats()).kept).toBe(1);
    expect(await model.generate(start(hidden), { graph: 'decoder_with_past_model', feed, maxTokens: 3 })).toEqual(kvBench.tokens.slice(0, 3));
    await model.dispose();
  });
});

test('an update moves graphs and tokenizer together; a cold start offline runs the whole cached release', async () => {
  await modelCache.clear();
  const v1 = await loadModel(`${server}${seq2seq.v1}`, { backend: 'wasm', update: 'blocking' });
  expect(v1.info.version).toBe('1.0.0');
  await v1.dispose();
  // The same model at a URL whose host now serves 2.0.0 (1.0.0's files are shared by hash).
  const url = `${server}${seq2seq.both}`;
  const model = await loadModel(url, { backend: 'wasm', update: 'blocking' });
  expect(model.info.version).toBe('2.0.0');
  expect((await tokenizerOf(model)).version).toBe('2.0.0');
  expect(await decodeAll(model)).toEqual(seq2seq.tokens['2.0.0']);
  await model.dispose();
  const offline = await loadModel(url, { backend: 'wasm', update: 'never' });
  expect(offline.info).toMatchObject({ version: '2.0.0', fromCache: true });
  expect(await decodeAll(offline)).toEqual(seq2seq.tokens['2.0.0']);
  await offline.dispose();
});

describe('atomicity, where the bytes live (OPFS or IndexedDB)', () => {
  const perVersion = async (version: string) => (await (await fetch(`${server}${seq2seq.both.replace('manifest.json', `manifest.${version}.json`)}`)).json()) as ManifestJson & { assets: Array<{ name: string; path: string }> };
  const broken: Array<[string, (m: Awaited<ReturnType<typeof perVersion>>) => Record<string, string>]> = [
    ['a corrupt graph file', (m) => ({ [m.variants.fp32.files[3]!.path]: m.variants.fp32.files[0]!.path })],
    ['a tokenizer whose bytes hash wrong', (m) => ({ [m.assets.find((a) => a.name === 'tokenizer.json')!.path]: m.assets.find((a) => a.name === 'config.json')!.path })],
  ];
  test.each(broken)('2.0.0 with %s never activates: 1.0.0 runs on, its graphs and tokenizer together', async (_, swap) => {
    await modelCache.clear();
    const host = new LiveHost();
    await host.publish(await perVersion('1.0.0'));
    await (await loadModel(host.url, { backend: 'wasm', update: 'blocking' })).dispose();
    const next = await perVersion('2.0.0');
    await host.publish(next);
    await host.swap(swap(next));
    const model = await loadModel(host.url, { backend: 'wasm', update: 'blocking', retry: { retries: 0 } });
    expect(model.info.version).toBe('1.0.0');
    expect(model.lastUpdateError?.code).toBe('INTEGRITY_MISMATCH');
    expect((await tokenizerOf(model)).version).toBe('1.0.0');
    expect(await decodeAll(model)).toEqual(seq2seq.tokens['1.0.0']);
    await model.dispose();
  });
});

describe.each([true, false])('4-bit weights: the example quantized to q4 by the CLI (issue 26) (worker: %s)', (worker) => {
  test.each(usable(['wasm', 'webgpu'] as const))('its MatMulNBits graphs decode on %s as onnxruntime-node decodes the same q4 files', async (backend) => {
    const model = await loadModel(`${server}${seq2seq.q4.manifest}`, { backend, worker, variant: 'q4' });
    expect(model.info).toMatchObject({ backend, variant: 'q4' });
    expect(await decodeAll(model)).toEqual(seq2seq.q4.tokens);
    await model.dispose();
  });
});

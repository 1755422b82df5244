/**
 * @file Greedy decoding with ondevice: the encoder once, then the decoder token by token with its
 * key/value cache kept where the model runs. By default the whole sequence, encoder included, is one
 * `model.generate()` call (no step crosses to this thread); `loop: 'steps'` drives it one `run()` a token, the cache
 * fed back as refs (`keep`) and freed as it is replaced. The example page streams its tokens; the
 * tests compare them with onnxruntime-node's loop.
 */
import type { Model, Tensor, TensorRef } from 'ondevice';

/** The example's tokenizer.json: one token per letter, and the special ids. */
export interface Tokenizer {
  version: string;
  bos: number;
  eos: number;
  pad: number;
  vocab: Record<string, number>;
}

const CACHE = ['present.0.key', 'present.0.value'] as const;

function ids(values: readonly number[]): Tensor {
  return { type: 'int64', data: BigInt64Array.from(values.map(BigInt)), dims: [1, values.length] };
}

function argmaxLast(logits: Tensor): number {
  const data = logits.data as Float32Array;
  const vocab = logits.dims[logits.dims.length - 1]!;
  const start = data.length - vocab;
  let best = 0;
  for (let j = 1; j < vocab; j++) if (data[start + j]! > data[start + best]!) best = j;
  return best;
}

/** Reads the running version's tokenizer: always the one that matches its weights. */
export async function tokenizerOf(model: Model): Promise<Tokenizer> {
  return JSON.parse(await (await model.asset('tokenizer.json')).text()) as Tokenizer;
}

function inputIds(tokenizer: Tokenizer, word: string): number[] {
  return [...word].map((c) => {
    const id = tokenizer.vocab[c];
    if (id === undefined) throw new Error(`"${c}" is not in the tokenizer's vocabulary`);
    return id;
  });
}

export interface DecodeOptions {
  maxTokens?: number;
  onToken?: (token: number, text: string) => void;
  /**
   * `'worker'` (the default): the whole loop in one `model.generate()` call, where the model runs.
   * `'steps'`: one `model.run()` a token from this thread, with the cache kept (`keep`) or, with
   * `keep: false`, crossing to this thread at every step (for the bench and the tests).
   */
  loop?: 'worker' | 'steps';
  keep?: boolean;
  signal?: AbortSignal;
}

/** Decodes `word` greedily, calling `onToken` with each token as it comes; returns the token ids. */
export async function decode(model: Model, tokenizer: Tokenizer, word: string, options: DecodeOptions = {}): Promise<number[]> {
  if (options.loop === 'steps') return decodeStepByStep(model, tokenizer, word, options);
  const letters = Object.fromEntries(Object.entries(tokenizer.vocab).map(([k, v]) => [v, k]));
  // One call for the whole sequence: the encoder runs first, where the model runs, and its output is
  // given to every decoder step without crossing to this thread.
  return model.generate(
    { input_ids: ids([tokenizer.bos]) },
    {
      encoder: { graph: 'encoder_model', inputs: { input_ids: ids(inputIds(tokenizer, word)) }, feed: { encoder_hidden_states: 'last_hidden_state' } },
      graph: 'decoder_model',
      nextGraph: 'decoder_with_past_model',
      feed: { 'past_key_values.0.key': CACHE[0], 'past_key_values.0.value': CACHE[1] },
      eos: tokenizer.eos,
      maxTokens: options.maxTokens ?? 12,
      ...(options.signal && { signal: options.signal }),
      ...(options.onToken && { onToken: (token: number) => options.onToken!(token, letters[token] ?? '?') }),
    },
  );
}

/** The same loop driven from this thread, one `run()` a token. */
async function decodeStepByStep(model: Model, tokenizer: Tokenizer, word: string, options: DecodeOptions): Promise<number[]> {
  const keep = options.keep ?? true;
  const letters = Object.fromEntries(Object.entries(tokenizer.vocab).map(([k, v]) => [v, k]));
  const encoded = await model.run({ input_ids: ids(inputIds(tokenizer, word)) }, { graph: 'encoder_model', keep });
  const hidden = encoded['last_hidden_state']!;
  let step = await model.run({ input_ids: ids([tokenizer.bos]), encoder_hidden_states: again(hidden) }, { graph: 'decoder_model', keep: keep ? [...CACHE] : false });
  const emitted: number[] = [];
  try {
    for (let i = 0; i < (options.maxTokens ?? 12); i++) {
      const token = argmaxLast(step['logits'] as Tensor);
      if (token === tokenizer.eos) break;
      emitted.push(token);
      options.onToken?.(token, letters[token] ?? '?');
      if (emitted.length === (options.maxTokens ?? 12)) break;
      const next = await model.run(
        { input_ids: ids([token]), encoder_hidden_states: again(hidden), 'past_key_values.0.key': step[CACHE[0]]!, 'past_key_values.0.value': step[CACHE[1]]! },
        { graph: 'decoder_with_past_model', keep: keep ? [...CACHE] : false },
      );
      await release(step);
      step = next;
    }
  } finally {
    await release(step);
    await release(encoded);
  }
  return emitted;
}

/** A tensor used again after a run: a kept ref as it is; data copied, since a run in a worker takes the buffers it is given. */
function again(t: Tensor | TensorRef): Tensor | TensorRef {
  return 'kept' in t ? t : ({ ...t, data: t.data.slice() } as Tensor);
}

async function release(outputs: Record<string, Tensor | TensorRef>): Promise<void> {
  await Promise.all(Object.values(outputs).map((o) => ('kept' in o ? o.dispose() : undefined)));
}

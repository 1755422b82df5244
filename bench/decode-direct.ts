/**
 * @file Suite "decode"'s shared parts: the two models' shapes' type, the greedy choice every contender
 * makes, and onnxruntime-web driven directly (on the main thread, and in bench/decode-worker.ts).
 */
import type * as Ort from 'onnxruntime-web';
import type { Backend, Tensor } from '../src/index.js';

export interface Shape {
  /** Graph that starts a sequence (`decoder_model`), or undefined: the loop starts with an empty cache. */
  first?: string;
  layers: number;
  heads: number;
  headDim: number;
  steps: number;
}

export const ids = (values: number[]): Tensor => ({ type: 'int64', data: BigInt64Array.from(values.map(BigInt)), dims: [1, values.length] });
export const zeros = (s: Shape): Tensor => ({ type: 'float32', data: new Float32Array(s.heads * s.headDim), dims: [1, s.heads, 1, s.headDim] });
export const cacheNames = (s: Shape, prefix: string) => Array.from({ length: s.layers }, (_, l) => [`${prefix}.${l}.key`, `${prefix}.${l}.value`]).flat();

/** The greedy choice every contender makes: the highest score at the last position. */
export function argmaxLast(data: Float32Array, dims: readonly number[]): number {
  const vocab = dims[dims.length - 1]!;
  const start = data.length - vocab;
  let best = 0;
  for (let j = 1; j < vocab; j++) if (data[start + j]! > data[start + best]!) best = j;
  return best;
}

/** The same sequence on onnxruntime-web on the main thread, with ORT's own tensors fed back. */
export async function directLoop(ort: typeof Ort, sessions: Record<string, Ort.InferenceSession>, s: Shape, gpu: boolean): Promise<void> {
  const presents = cacheNames(s, 'present');
  const pasts = cacheNames(s, 'past_key_values');
  const t = (x: Tensor) => new ort.Tensor(x.type as 'float32', x.data as Float32Array, x.dims);
  const enc = await sessions['encoder_model']!.run({ input_ids: t(ids([3, 4, 5, 6])) });
  const hidden = enc['last_hidden_state']!;
  let cache: Record<string, Ort.Tensor>;
  let step = 0;
  let token = 1;
  // What the app needs each step: the logits' numbers, for the next token.
  const choose = async (out: Record<string, Ort.Tensor>) => argmaxLast((gpu ? await out['logits']!.getData(true) : out['logits']!.data) as Float32Array, out['logits']!.dims);
  if (s.first) {
    cache = await sessions[s.first]!.run({ input_ids: t(ids([token])), encoder_hidden_states: hidden });
    token = await choose(cache);
    step = 1;
  } else cache = Object.fromEntries(presents.map((p) => [p, t(zeros(s))]));
  for (; step < s.steps; step++) {
    const feeds: Record<string, Ort.Tensor> = { input_ids: t(ids([token])), encoder_hidden_states: hidden };
    pasts.forEach((p, i) => (feeds[p] = cache[presents[i]!]!));
    const out = await sessions['decoder_with_past_model']!.run(feeds);
    token = await choose(out);
    if (gpu) for (const p of presents) cache[p]?.dispose();
    cache = out;
  }
  if (gpu) for (const p of presents) cache[p]?.dispose();
  hidden.dispose();
}

export async function directSessions(ort: typeof Ort, manifestUrl: string, backend: Backend, gpu: boolean): Promise<Record<string, Ort.InferenceSession>> {
  const manifest = (await (await fetch(manifestUrl)).json()) as { variants: { fp32: { files: Array<{ path: string; graph: string }> } } };
  const files = await Promise.all(manifest.variants.fp32.files.map(async (f) => ({ ...f, bytes: new Uint8Array(await (await fetch(new URL(f.path, manifestUrl))).arrayBuffer()) })));
  const sessions: Record<string, Ort.InferenceSession> = {};
  for (const graph of new Set(files.map((f) => f.graph))) {
    const own = files.filter((f) => f.graph === graph);
    const model = own.find((f) => f.path.endsWith('.onnx'))!;
    sessions[graph] = await ort.InferenceSession.create(model.bytes, {
      executionProviders: [backend],
      graphOptimizationLevel: 'all',
      externalData: own.filter((f) => f !== model).map((f) => ({ path: f.path, data: f.bytes })),
      ...(gpu && { preferredOutputLocation: 'gpu-buffer' as const }),
    });
  }
  return sessions;
}

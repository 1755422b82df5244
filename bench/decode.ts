/**
 * @file Suite "decode": a decode loop whose key/value cache is fed back at every step, through
 * ondevice with `keep` (the cache stays in the worker, on WebGPU in GPU buffers) vs onnxruntime-web
 * driven directly on the main thread with the same tensors kept (on WebGPU: with outputs read back to
 * the CPU each step, ORT's default, and with `preferredOutputLocation: 'gpu-buffer'`), and ondevice
 * without `keep` (the cache crosses to the page and back at every step: the cost before issue 24),
 * and ondevice's `generate()`, the whole loop in one call where the model runs (worker and in-thread).
 * Every contender picks each next token the same way (the argmax of the last logits) and feeds it back.
 * Two models: the encoder–decoder example (12 steps a sequence) and a decoder whose cache grows to
 * 2 MB (8 layers; 256 steps from an empty cache on WASM, 64 on SwiftShader's slow WebGPU).
 */
import type * as Ort from 'onnxruntime-web';
import { loadModel, type Backend, type Model, type Tensor, type TensorRef } from '../src/index.js';
import { stats, type Stats } from './stats.js';

export interface DecodeReport {
  model: string;
  backend: Backend;
  steps: number;
  /** Tokens per second, by contender; the first is the baseline. */
  rates: Record<string, Stats>;
  baseline: string;
}

interface Shape {
  /** Graph that starts a sequence (`decoder_model`), or undefined: the loop starts with an empty cache. */
  first?: string;
  layers: number;
  heads: number;
  headDim: number;
  steps: number;
}

const SHAPES: Record<string, Shape> = {
  reverse: { first: 'decoder_model', layers: 1, heads: 2, headDim: 32, steps: 12 },
  'kv-bench': { layers: 8, heads: 4, headDim: 32, steps: 256 },
};

type Feeds = Record<string, Tensor | TensorRef>;
const ids = (values: number[]): Tensor => ({ type: 'int64', data: BigInt64Array.from(values.map(BigInt)), dims: [1, values.length] });
const zeros = (s: Shape): Tensor => ({ type: 'float32', data: new Float32Array(s.heads * s.headDim), dims: [1, s.heads, 1, s.headDim] });
const cacheNames = (s: Shape, prefix: string) => Array.from({ length: s.layers }, (_, l) => [`${prefix}.${l}.key`, `${prefix}.${l}.value`]).flat();

/** The greedy choice every contender makes: the highest score at the last position. */
function argmaxLast(data: Float32Array, dims: readonly number[]): number {
  const vocab = dims[dims.length - 1]!;
  const start = data.length - vocab;
  let best = 0;
  for (let j = 1; j < vocab; j++) if (data[start + j]! > data[start + best]!) best = j;
  return best;
}

/** One sequence through ondevice, one run() a step from this thread: encoder once, then `steps` decoder runs feeding the cache back. */
async function viaOndevice(model: Model, s: Shape, keep: boolean): Promise<void> {
  const presents = cacheNames(s, 'present');
  const pasts = cacheNames(s, 'past_key_values');
  const copy = (t: Tensor | TensorRef) => ('kept' in t ? t : ({ ...t, data: t.data.slice() } as Tensor));
  const enc = await model.run({ input_ids: ids([3, 4, 5, 6]) }, { graph: 'encoder_model', keep });
  const hidden = enc['last_hidden_state']!;
  let cache: Record<string, Tensor | TensorRef>;
  let step = 0;
  let token = 1;
  if (s.first) {
    const out = await model.run({ input_ids: ids([token]), encoder_hidden_states: copy(hidden) }, { graph: s.first, keep: keep ? presents : false });
    token = argmaxLast((out['logits'] as Tensor).data as Float32Array, (out['logits'] as Tensor).dims);
    cache = out;
    step = 1;
  } else cache = Object.fromEntries(presents.map((p) => [p, zeros(s)]));
  for (; step < s.steps; step++) {
    const feeds: Feeds = { input_ids: ids([token]), encoder_hidden_states: copy(hidden) };
    pasts.forEach((p, i) => (feeds[p] = cache[presents[i]!]!));
    const out = await model.run(feeds, { graph: 'decoder_with_past_model', keep: keep ? presents : false });
    token = argmaxLast((out['logits'] as Tensor).data as Float32Array, (out['logits'] as Tensor).dims);
    if (keep) await Promise.all(presents.map((p) => (cache[p] && 'kept' in cache[p] ? (cache[p] as TensorRef).dispose() : undefined)));
    cache = out;
  }
  await Promise.all(Object.values(cache).map((t) => ('kept' in t ? t.dispose() : undefined)));
  if ('kept' in hidden) await hidden.dispose();
}

/** The same sequence as one `generate()` call: every step where the model runs. */
async function viaGenerate(model: Model, s: Shape): Promise<void> {
  const presents = cacheNames(s, 'present');
  const pasts = cacheNames(s, 'past_key_values');
  const hidden = (await model.run({ input_ids: ids([3, 4, 5, 6]) }, { graph: 'encoder_model', keep: true }))['last_hidden_state'] as TensorRef;
  const inputs: Feeds = { input_ids: ids([1]), encoder_hidden_states: hidden };
  if (!s.first) pasts.forEach((p) => (inputs[p] = zeros(s)));
  const feed = Object.fromEntries(pasts.map((p, i) => [p, presents[i]!]));
  const tokens = await model.generate(inputs, { graph: s.first ?? 'decoder_with_past_model', nextGraph: 'decoder_with_past_model', feed, maxTokens: s.steps });
  if (tokens.length !== s.steps) throw new Error(`generate() gave ${tokens.length} tokens, not ${s.steps}`);
  await hidden.dispose();
}

/** The same sequence on onnxruntime-web on the main thread, with ORT's own tensors fed back. */
async function directLoop(ort: typeof Ort, sessions: Record<string, Ort.InferenceSession>, s: Shape, gpu: boolean): Promise<void> {
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

async function directSessions(ort: typeof Ort, manifestUrl: string, backend: Backend, gpu: boolean): Promise<Record<string, Ort.InferenceSession>> {
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

interface Contender {
  name: string;
  sequence(): Promise<void>;
  close(): Promise<void>;
}

async function contenders(url: string, s: Shape, backend: Backend): Promise<Contender[]> {
  const ort: typeof Ort = backend === 'webgpu' ? await import('onnxruntime-web/webgpu') : await import('onnxruntime-web/wasm');
  ort.env.logLevel = 'error';
  ort.env.wasm.numThreads = 1;
  const list: Contender[] = [];
  const cpu = await directSessions(ort, url, backend, false);
  list.push({ name: backend === 'webgpu' ? 'onnxruntime-web, main thread, outputs to the CPU' : 'onnxruntime-web, main thread', sequence: () => directLoop(ort, cpu, s, false), close: async () => void (await Promise.all(Object.values(cpu).map((x) => x.release()))) });
  if (backend === 'webgpu') {
    const gpu = await directSessions(ort, url, backend, true);
    list.push({ name: "onnxruntime-web, main thread, 'gpu-buffer'", sequence: () => directLoop(ort, gpu, s, true), close: async () => void (await Promise.all(Object.values(gpu).map((x) => x.release()))) });
  }
  // The whole loop in one call, in the worker and in this thread.
  const generating = await loadModel(url, { backend, worker: true, variant: 'fp32' });
  list.push({ name: 'ondevice, worker, generate()', sequence: () => viaGenerate(generating, s), close: () => generating.dispose() });
  const generatingHere = await loadModel(url, { backend, worker: false, variant: 'fp32' });
  list.push({ name: 'ondevice, in-thread, generate()', sequence: () => viaGenerate(generatingHere, s), close: () => generatingHere.dispose() });
  const kept = await loadModel(url, { backend, worker: true, variant: 'fp32' });
  list.push({ name: 'ondevice, worker, keep', sequence: () => viaOndevice(kept, s, true), close: () => kept.dispose() });
  // The same host called in this thread: what the worker boundary itself costs a step.
  const inThread = await loadModel(url, { backend, worker: false, variant: 'fp32' });
  list.push({ name: 'ondevice, in-thread, keep', sequence: () => viaOndevice(inThread, s, true), close: () => inThread.dispose() });
  const plain = await loadModel(url, { backend, worker: true, variant: 'fp32' });
  list.push({ name: 'ondevice, worker, no keep', sequence: () => viaOndevice(plain, s, false), close: () => plain.dispose() });
  // The same release's 4-bit variant, where it has one: where q4 ranks against fp32 on this backend.
  const variants = ((await (await fetch(url)).json()) as { variants: Record<string, unknown> }).variants;
  if ('q4' in variants) {
    const q4 = await loadModel(url, { backend, worker: true, variant: 'q4' });
    list.push({ name: 'ondevice, worker, keep, q4', sequence: () => viaOndevice(q4, s, true), close: () => q4.dispose() });
  }
  return list;
}

export async function decodeSuite(base: string, backends: Backend[], log: (s: string) => void): Promise<DecodeReport[]> {
  const reports: DecodeReport[] = [];
  for (const [name, shape] of Object.entries(SHAPES)) {
    for (const backend of backends) {
      const url = `${base}/${name}/manifest.json`;
      // SwiftShader's WebGPU runs the 8-layer decoder at a few steps a second: a quarter of the steps there.
      const s = name === 'kv-bench' && backend === 'webgpu' ? { ...shape, steps: 64 } : shape;
      const list = await contenders(url, s, backend);
      // On WASM a round of 20 sequences of the example lasted about 30 ms, short enough for one pause
      // to decide it: in-thread generate() read 0.70–0.93× across runs. With 100 it read 0.87–0.98×.
      const sequences = name === 'reverse' ? (backend === 'wasm' ? 100 : 20) : 1;
      const rates: Record<string, number[]> = Object.fromEntries(list.map((c) => [c.name, []]));
      for (const c of list) await c.sequence(); // warm-up: shaders, allocator, JIT
      const rounds = name === 'reverse' ? 7 : 3;
      for (let r = 0; r < rounds; r++) {
        log(`decode ${name} ${backend}: round ${r + 1}/${rounds}`);
        for (const c of r % 2 ? [...list].reverse() : list) {
          const t0 = performance.now();
          for (let i = 0; i < sequences; i++) await c.sequence();
          rates[c.name]!.push((sequences * s.steps) / ((performance.now() - t0) / 1000));
        }
      }
      for (const c of list) await c.close();
      for (const [contender, r] of Object.entries(rates)) log(`decode ${name} ${backend}: ${contender}: ${stats(r).median.toFixed(1)} tokens/s`);
      reports.push({ model: name, backend, steps: s.steps, baseline: list[0]!.name, rates: Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, stats(v)])) });
    }
  }
  return reports;
}

/**
 * @file Suite "decode": a decode loop whose key/value cache is fed back at every step, through
 * ondevice with `keep` (the cache stays in the worker, on WebGPU in GPU buffers) vs onnxruntime-web
 * driven directly on the main thread with the same tensors kept (on WebGPU: with outputs read back to
 * the CPU each step, ORT's default, and with `preferredOutputLocation: 'gpu-buffer'`), and ondevice
 * without `keep` (the cache crosses to the page and back at every step: the cost before issue 24),
 * and ondevice's `generate()`, the whole sequence in one call where the model runs (worker and in-thread;
 * and in the worker after the encoder's own run(), two calls). On WASM also onnxruntime-web alone in a
 * worker, the loop there, one message a sequence: the worker's own cost here, ondevice aside, and the
 * round trip to a worker that answers at once (bare, and through comlink).
 * Every contender picks each next token the same way (the argmax of the last logits) and feeds it back.
 * Two models: the encoder–decoder example (12 steps a sequence) and a decoder whose cache grows to
 * 2 MB (8 layers; 256 steps from an empty cache on WASM, 64 on SwiftShader's slow WebGPU).
 */
import type * as Ort from 'onnxruntime-web';
import { loadModel, type Backend, type Model, type Tensor, type TensorRef } from '../src/index.js';
import { wrap } from 'comlink';
import { argmaxLast, cacheNames, directLoop, directSessions, ids, zeros, type Shape } from './decode-direct.js';
import { stats, type Stats } from './stats.js';

export interface DecodeReport {
  model: string;
  /** One round trip to a worker that answers at once, in µs (median): a bare postMessage, and through comlink. */
  hop?: { raw: number; comlink: number } | undefined;
  backend: Backend;
  steps: number;
  /** Tokens per second, by contender; the first is the baseline. */
  rates: Record<string, Stats>;
  baseline: string;
}


const SHAPES: Record<string, Shape> = {
  reverse: { first: 'decoder_model', layers: 1, heads: 2, headDim: 32, steps: 12 },
  'kv-bench': { layers: 8, heads: 4, headDim: 32, steps: 256 },
};

type Feeds = Record<string, Tensor | TensorRef>;
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

/**
 * The same sequence as one `generate()` call, the encoder included (option `encoder`): every step
 * where the model runs. With `separate`, the encoder is a run() of its own first, its output kept
 * and given to generate(): two calls, as before the option.
 */
async function viaGenerate(model: Model, s: Shape, separate = false): Promise<void> {
  const presents = cacheNames(s, 'present');
  const pasts = cacheNames(s, 'past_key_values');
  const source = { input_ids: ids([3, 4, 5, 6]) };
  const hidden = separate ? ((await model.run(source, { graph: 'encoder_model', keep: true }))['last_hidden_state'] as TensorRef) : undefined;
  const inputs: Feeds = { input_ids: ids([1]), ...(hidden && { encoder_hidden_states: hidden }) };
  if (!s.first) pasts.forEach((p) => (inputs[p] = zeros(s)));
  const feed = Object.fromEntries(pasts.map((p, i) => [p, presents[i]!]));
  const encoder = hidden ? undefined : { graph: 'encoder_model', inputs: source, feed: { encoder_hidden_states: 'last_hidden_state' } };
  const tokens = await model.generate(inputs, { ...(encoder && { encoder }), graph: s.first ?? 'decoder_with_past_model', nextGraph: 'decoder_with_past_model', feed, maxTokens: s.steps });
  if (tokens.length !== s.steps) throw new Error(`generate() gave ${tokens.length} tokens, not ${s.steps}`);
  await hidden?.dispose();
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
  if (backend === 'wasm') {
    // onnxruntime-web with the whole loop in a worker of its own: what the thread itself costs, ondevice aside.
    const worker = new Worker(new URL('./decode-worker.ts', import.meta.url), { type: 'module' });
    const once = (sequences: number) => new Promise<number>((resolve) => {
      worker.addEventListener('message', (e: MessageEvent<number>) => resolve(e.data), { once: true });
      worker.postMessage({ url, shape: s, sequences });
    });
    list.push({ name: 'onnxruntime-web, in a worker, the loop there', sequence: () => once(1).then(() => undefined), close: async () => worker.terminate() });
  }
  // The whole loop in one call, in the worker and in this thread.
  const generating = await loadModel(url, { backend, worker: true, variant: 'fp32' });
  list.push({ name: 'ondevice, worker, generate()', sequence: () => viaGenerate(generating, s), close: () => generating.dispose() });
  // The encoder as a run() of its own before generate(): one more round trip a sequence.
  list.push({ name: 'ondevice, worker, run() + generate()', sequence: () => viaGenerate(generating, s, true), close: async () => undefined });
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

/** The median round trip to a worker with nothing to do, bare and through comlink, in µs. */
async function hopFloor(): Promise<{ raw: number; comlink: number }> {
  const worker = new Worker(new URL('./echo-worker.ts', import.meta.url), { type: 'module' });
  const remote = wrap<{ ping(x: number): number }>(worker);
  const raw = () => new Promise<void>((resolve) => {
    worker.addEventListener('message', function once(e: MessageEvent) {
      if (typeof e.data === 'object' && e.data !== null && 'raw' in e.data) {
        worker.removeEventListener('message', once);
        resolve();
      }
    });
    worker.postMessage({ raw: 1 });
  });
  const time = async (hop: () => Promise<unknown>) => {
    for (let i = 0; i < 200; i++) await hop();
    const samples: number[] = [];
    for (let r = 0; r < 7; r++) {
      const t0 = performance.now();
      for (let i = 0; i < 500; i++) await hop();
      samples.push(((performance.now() - t0) / 500) * 1000);
    }
    return stats(samples).median;
  };
  const result = { raw: await time(raw), comlink: await time(() => remote.ping(1)) };
  worker.terminate();
  return result;
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
      // Warm-up, untimed (shaders, allocator, JIT): a round's worth of sequences. After one sequence each,
      // the first timed round of whichever contender ran first read a fifth of its later rate on WASM
      // (1259–1428 tokens/s against 3963–9860 in its next rounds, in three runs): onnxruntime-web's
      // WebAssembly was still tiering up, at that contender's expense.
      for (const c of list) for (let i = 0; i < sequences; i++) await c.sequence();
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
      const hop = backend === 'wasm' ? await hopFloor() : undefined;
      if (hop) log(`decode ${name}: a worker round trip: ${hop.raw.toFixed(0)} µs bare, ${hop.comlink.toFixed(0)} µs through comlink`);
      reports.push({ model: name, backend, steps: s.steps, hop, baseline: list[0]!.name, rates: Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, stats(v)])) });
    }
  }
  return reports;
}

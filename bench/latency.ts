/** @file Suite "latency": run() through ondevice (worker, in-thread) vs onnxruntime-web on the main thread. */
import type * as Ort from 'onnxruntime-web';
import { loadModel, type Backend, type Model } from '../src/index.js';
import { stats, type Stats } from './stats.js';

const MANIFEST = new URL('/digits/release/manifest.json', location.href).href;


export interface Contender {
  name: string;
  run(batch: Float32Array, n: number): Promise<void>;
  close(): Promise<void>;
}

export interface BackendReport {
  backend: Backend;
  /** What was run, and the contender the others are compared with. */
  model: string;
  baseline: string;
  latency: Record<string, Stats>;
  throughput: Record<string, Stats>;
  batch: number;
}

async function direct(backend: Backend, bytes: Uint8Array): Promise<Contender> {
  // The same builds ondevice loads: the WebGPU build for webgpu, the plain WASM build otherwise.
  const ort: typeof Ort = backend === 'webgpu' ? await import('onnxruntime-web/webgpu') : await import('onnxruntime-web/wasm');
  ort.env.logLevel = 'error';
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(bytes, { executionProviders: [backend], graphOptimizationLevel: 'all' });
  return {
    name: 'onnxruntime-web, main thread',
    async run(data, n) {
      await session.run({ image: new ort.Tensor('float32', data, [n, 1, 8, 8]) });
    },
    close: () => session.release(),
  };
}

export function viaOndevice(model: Model, name: string, dims: (n: number) => number[] = (n) => [n, 1, 8, 8]): Contender {
  return {
    name,
    async run(data, n) {
      await model.run({ image: { type: 'float32', data, dims: dims(n) } });
    },
    close: () => model.dispose(),
  };
}

/** Calls timed together, so that the 0.1 ms clock of a page that is not cross-origin isolated resolves µs. */
const BLOCK = 20;

/**
 * Runs `calls` sequential calls and returns one sample per block of BLOCK calls: the mean time of a
 * call in that block. Inputs are copied before the clock starts (ondevice transfers them away).
 */
async function timeCalls(c: Contender, images: Float32Array, batch: number, calls: number, block = BLOCK): Promise<number[]> {
  const inputs = Array.from({ length: calls }, (_, k) => {
    const start = ((k * batch) % 360) * 64;
    const slice = images.slice(start, start + batch * 64);
    return slice.length === batch * 64 ? slice : images.slice(0, batch * 64);
  });
  const samples: number[] = [];
  for (let i = 0; i + block <= inputs.length; i += block) {
    const t0 = performance.now();
    for (let k = i; k < i + block; k++) await c.run(inputs[k]!, batch);
    samples.push((performance.now() - t0) / block);
  }
  return samples;
}

async function benchBackend(backend: Backend, bytes: Uint8Array, images: Float32Array, log: (s: string) => void): Promise<BackendReport> {
  const contenders = [
    await direct(backend, bytes),
    viaOndevice(await loadModel(MANIFEST, { backend, worker: true, variant: 'fp32' }), 'ondevice, worker'),
    viaOndevice(await loadModel(MANIFEST, { backend, worker: false, variant: 'fp32' }), 'ondevice, in-thread'),
  ];
  return measure(backend, 'the ONNX digits CNN (fp32, 155 kB)', contenders, images, log);
}

/** Interleaved rounds of every contender (the first is the baseline): latency at batch 1, throughput at batch 360. */
export async function measure(backend: Backend, model: string, contenders: Contender[], images: Float32Array, log: (s: string) => void): Promise<BackendReport> {
  const latency: Record<string, number[]> = {};
  const throughput: Record<string, number[]> = {};
  const batch = 360;
  const slow = backend === 'webgpu' || backend === 'webgl';
  const rounds = slow ? 4 : 6;
  const calls = slow ? 100 : 400;
  for (const c of contenders) {
    await timeCalls(c, images, 1, 30); // warm-up: shader compilation, allocator, JIT
    await timeCalls(c, images, batch, 3, 1);
    latency[c.name] = [];
    throughput[c.name] = [];
  }
  for (let r = 0; r < rounds; r++) {
    log(`${backend}: round ${r + 1}/${rounds}`);
    for (const c of r % 2 ? [...contenders].reverse() : contenders) {
      latency[c.name]!.push(...(await timeCalls(c, images, 1, calls)));
      throughput[c.name]!.push(...(await timeCalls(c, images, batch, 5, 1)));
    }
  }
  for (const c of contenders) await c.close();
  const map = (o: Record<string, number[]>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, stats(v)]));
  return { backend, model, baseline: contenders[0]!.name, latency: map(latency), throughput: map(throughput), batch };
}

export async function latencySuite(backends: Backend[], log: (s: string) => void): Promise<BackendReport[]> {
  const manifest = (await (await fetch(MANIFEST)).json()) as { variants: { fp32: { files: Array<{ path: string }> } } };
  const bytes = new Uint8Array(await (await fetch(new URL(manifest.variants.fp32.files[0]!.path, MANIFEST))).arrayBuffer());
  const images = new Float32Array(await (await fetch('/digits/test-set.bin')).arrayBuffer());
  const reports: BackendReport[] = [];
  for (const backend of backends) reports.push(await benchBackend(backend, bytes, images, log));
  return reports;
}

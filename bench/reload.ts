/**
 * @file Suite "reload": a WebGPU model disposed and loaded again (a `reload()`, React's StrictMode
 * mounting twice, an app going back to a model), timed from the load to its first result. Side by
 * side: onnxruntime-web driven directly, a new session after the previous one was released (what
 * ORT does on its own: a new device, every pipeline compiled again), and a new session while another
 * stays open (ORT's floor: its device and pipelines kept); ondevice in its worker and in the page,
 * each load within the linger after the last dispose.
 */
import * as ort from 'onnxruntime-web/webgpu';
import { loadModel, modelCache } from '../src/index.js';
import { stats, type Stats } from './stats.js';

export interface ReloadReport {
  model: string;
  /** Median ms from the load (or the session create) to the first result, by contender. */
  contenders: Record<string, Stats>;
  /** The first load of each contender, pipelines compiled from nothing. */
  first: Record<string, number>;
  baseline: string;
}

const BASELINE = 'ORT, new session after release';

export async function reloadSuite(modelServer: string, reps: number, log: (s: string) => void): Promise<ReloadReport[]> {
  const url = `${modelServer}/digits/release/manifest.json`;
  const manifest = (await (await fetch(url)).json()) as { variants: { fp32: { files: Array<{ path: string }> } } };
  const bytes = new Uint8Array(await (await fetch(new URL(manifest.variants.fp32.files[0]!.path, url))).arrayBuffer());
  const image = () => ({ image: new ort.Tensor('float32', new Float32Array(64), [1, 1, 8, 8]) });
  const direct = async (): Promise<number> => {
    const t0 = performance.now();
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'] });
    await session.run(image());
    const ms = performance.now() - t0;
    await session.release();
    return ms;
  };
  let keeper: ort.InferenceSession | undefined;
  const contenders: Record<string, { before?: () => Promise<void>; after?: () => Promise<void>; once: () => Promise<number> }> = {
    [BASELINE]: { once: direct },
    'ORT, another session kept open': {
      before: async () => {
        keeper = await ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'] });
      },
      after: async () => keeper?.release(),
      once: direct,
    },
  };
  for (const worker of [true, false]) {
    contenders[`ondevice, worker: ${worker}`] = {
      once: async () => {
        const t0 = performance.now();
        const model = await loadModel(url, { backend: 'webgpu', variant: 'fp32', worker, update: 'never' });
        await model.run({ image: { type: 'float32', data: new Float32Array(64), dims: [1, 1, 8, 8] } });
        const ms = performance.now() - t0;
        await model.dispose();
        return ms;
      },
    };
  }
  await modelCache.clear();
  // Cached first, so every ondevice load reads the cache, as a reload does.
  await (await loadModel(url, { backend: 'wasm', variant: 'fp32' })).dispose();
  const samples: Record<string, number[]> = {};
  const first: Record<string, number> = {};
  // Each contender on its own, its loads back to back (within the linger): the first compiles from
  // nothing, the rest are the reloads.
  for (const [name, c] of Object.entries(contenders)) {
    log(`reload ${name}`);
    await c.before?.();
    first[name] = await c.once();
    for (let r = 0; r < reps; r++) (samples[name] ??= []).push(await c.once());
    await c.after?.();
    // Past the linger: the next contender starts from nothing too.
    await new Promise((resolve) => setTimeout(resolve, 2500));
  }
  await modelCache.clear();
  return [{ model: 'digits (CNN, fp32)', contenders: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, stats(v)])), first, baseline: BASELINE }];
}

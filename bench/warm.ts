/**
 * @file Suite "warm": a warm load (model cached) to the first result through ondevice, each contender
 * in a fresh worker and the rounds interleaved: onnxruntime-web creating the same session from bytes
 * already in memory (the floor), the peers' way (Cache API `match` → `arrayBuffer` → create), and
 * ondevice with the bytes in OPFS and in IndexedDB; beside them, one raw OPFS read of the file (the
 * storage floor). A model with external data is compared with the floor of its embedded twin.
 */
import { loadModel, modelCache, type LoadOptions } from '../src/index.js';
import { stats, type Stats } from './stats.js';
import type { WarmJob } from './warm-worker.js';

export interface WarmReport {
  model: string;
  bytes: number;
  tensors: number;
  external: boolean;
  /** Median ms of a warm load to the first result, by contender. */
  contenders: Record<string, Stats>;
  /** ondevice contenders: median ms of the load inside its worker (`model.stats().load`), in all and by phase. */
  inWorker: Record<string, { ms: number; phases: Record<string, number> }>;
}

interface ManifestJson {
  name: string;
  variants: { fp32: { files: Array<{ path: string; size: number; sha256: string }> } };
  inputs: Array<{ name: string; dims: Array<number | string> }>;
  metadata?: { tensors?: number; external?: boolean };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

/** Runs one job in a fresh worker; the time is the page's, from creating the worker to its answer. */
async function inFreshWorker(job: WarmJob, transfer: Transferable[] = []): Promise<number> {
  const t0 = performance.now();
  const worker = new Worker(new URL('./warm-worker.ts', import.meta.url), { type: 'module' });
  try {
    const answer = await new Promise<{ ms?: number; error?: string }>((resolve) => {
      worker.onmessage = (e) => resolve(e.data as { ms?: number; error?: string });
      worker.onerror = (e) => resolve({ error: e.message });
      worker.postMessage(job, transfer);
    });
    if (answer.error) throw new Error(answer.error);
    return job.kind === 'opfs-read' ? answer.ms! : performance.now() - t0;
  } finally {
    worker.terminate();
  }
}

/** `model.stats().load` of each ondevice contender's loads. */
const loads: Record<string, Array<{ ms: number; phases: Record<string, number> }>> = {};

async function ondevice(url: string, input: { name: string; dims: number[] }, options: LoadOptions, name = JSON.stringify(options)): Promise<number> {
  const t0 = performance.now();
  const model = await loadModel(url, { backend: 'wasm', variant: 'fp32', ...options });
  const size = input.dims.reduce((a, b) => a * b, 1);
  await model.run({ [input.name]: { type: 'float32', data: new Float32Array(size), dims: input.dims } });
  const ms = performance.now() - t0;
  if (!model.info.fromCache) throw new Error('expected a warm load from the cache');
  const { load } = await model.stats();
  (loads[name] ??= []).push({ ms: load.ms, phases: load.phases as Record<string, number> });
  // The last model gone, the library ends its worker: the next load starts a fresh one.
  await model.dispose();
  return ms;
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  return new Uint8Array(await (await fetch(url)).arrayBuffer());
}

export async function warmSuite(manifestUrls: string[], reps: number, log: (s: string) => void): Promise<WarmReport[]> {
  const reports: WarmReport[] = [];
  for (const url of manifestUrls) {
    await modelCache.clear();
    const manifest = (await (await fetch(url)).json()) as ManifestJson;
    const [file, ...data] = manifest.variants.fp32.files;
    const fileUrl = (path: string) => new URL(path, url).href;
    const model = await fetchBytes(fileUrl(file!.path));
    const external = await Promise.all(data.map(async (f) => ({ path: f.path, data: await fetchBytes(fileUrl(f.path)) })));
    const raw = manifest.inputs[0]!;
    const input = { name: raw.name, dims: raw.dims.map((d) => (typeof d === 'number' ? d : 1)) };
    const big = file!.size + data.reduce((n, f) => n + f.size, 0) > 50 * 1024 * 1024;
    const memory = (disablePrepacking: boolean) => () => {
      const copy = model.slice();
      const extra = external.map((e) => ({ path: e.path, data: e.data.slice() }));
      return inFreshWorker({ kind: 'memory', model: copy, external: extra, input, disablePrepacking }, [copy.buffer, ...extra.map((e) => e.data.buffer)]);
    };
    for (const key of Object.keys(loads)) delete loads[key];
    const contenders: Record<string, () => Promise<number>> = { 'ORT from memory': memory(false), 'ondevice (OPFS)': () => ondevice(url, input, {}, 'ondevice (OPFS)') };
    if (external.length === 0) {
      await (await caches.open('ondevice-bench')).put(fileUrl(file!.path), new Response(model.slice()));
      contenders['Cache API → ORT'] = () => inFreshWorker({ kind: 'cache-api', url: fileUrl(file!.path), input });
    }
    if (big) {
      contenders['ORT from memory, no prepack'] = memory(true);
      contenders['ondevice (OPFS), no prepack'] = () => ondevice(url, input, { onnx: { disablePrepacking: true } }, 'ondevice (OPFS), no prepack');
      contenders['raw OPFS read'] = () => inFreshWorker({ kind: 'opfs-read', files: manifest.variants.fp32.files });
    }
    // Cached in OPFS first; the IndexedDB rounds follow, once the cache holds the bytes there.
    await (await loadModel(url, { backend: 'wasm', variant: 'fp32', storage: 'opfs' })).dispose();
    await settle();
    const samples: Record<string, number[]> = {};
    const round = async (set: Record<string, () => Promise<number>>, r: number) => {
      log(`warm ${manifest.name}: round ${r + 1}/${reps}`);
      for (const [name, run] of Object.entries(set)) {
        (samples[name] ??= []).push(await run());
        // Let the background update check finish, so that it does not spill into the next measurement.
        await settle();
      }
    };
    for (let r = 0; r < reps; r++) await round(contenders, r);
    await modelCache.clear();
    await (await loadModel(url, { backend: 'wasm', variant: 'fp32', storage: 'indexeddb' })).dispose();
    await settle();
    for (let r = 0; r < reps; r++) await round({ 'ondevice (IndexedDB)': () => ondevice(url, input, {}, 'ondevice (IndexedDB)') }, r);
    await modelCache.clear();
    await caches.delete('ondevice-bench');
    reports.push({
      model: manifest.name,
      bytes: file!.size + data.reduce((n, f) => n + f.size, 0),
      tensors: manifest.metadata?.tensors ?? 1,
      external: external.length > 0,
      contenders: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, stats(v)])),
      inWorker: Object.fromEntries(
        Object.entries(loads).map(([k, v]) => {
          const phases = [...new Set(v.flatMap((l) => Object.keys(l.phases)))];
          return [k, { ms: stats(v.map((l) => l.ms)).median, phases: Object.fromEntries(phases.map((p) => [p, stats(v.map((l) => l.phases[p] ?? 0)).median])) }];
        }),
      ),
    });
  }
  return reports;
}

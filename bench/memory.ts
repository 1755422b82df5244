/**
 * @file Suite "memory": phases the runner samples the renderer's memory across (VmRSS; workers live
 * in the page's renderer process), each marked with its start and end: onnxruntime-web's own way in a
 * fresh worker (`fetch` → `arrayBuffer` → create), ondevice's cold load (download, verify, cache,
 * create), its warm load (from the cache), and the warm load of the same model with external data;
 * each ends with one run.
 * Suite "large" runs the same phases on a 1 GB model: it caches, warm-loads and runs.
 */
import { loadModel, modelCache } from '../src/index.js';
import type { WarmJob } from './warm-worker.js';

export interface MemoryPhase {
  name: string;
  /** Date.now() values, comparable with the runner's clock. */
  start: number;
  /** The end of the download+cache part (the first `compile` event), on a cold load. */
  cached?: number;
  ready: number;
}

export interface MemoryMarks {
  bytes: number;
  phases: MemoryPhase[];
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** onnxruntime-web as an app without ondevice uses it: fetch → create, in a fresh worker. */
async function rawOrt(url: string): Promise<void> {
  const manifest = (await (await fetch(url)).json()) as { variants: { fp32: { files: Array<{ path: string }> } }; inputs: Array<{ name: string; dims: Array<number | string> }> };
  const input = { name: manifest.inputs[0]!.name, dims: manifest.inputs[0]!.dims.map((d) => (typeof d === 'number' ? d : 1)) };
  const worker = new Worker(new URL('./warm-worker.ts', import.meta.url), { type: 'module' });
  const job: WarmJob = { kind: 'fetch', url: new URL(manifest.variants.fp32.files[0]!.path, url).href, input };
  const answer = await new Promise<{ error?: string }>((resolve) => {
    worker.onmessage = (e) => resolve(e.data as { error?: string });
    worker.postMessage(job);
  });
  worker.terminate();
  if (answer.error) throw new Error(answer.error);
}

/** `externalUrl`: the same model with external data, for a fourth phase (none for suite "large"). */
export async function memorySuite(url: string, externalUrl: string | undefined, log: (s: string) => void): Promise<MemoryMarks> {
  await modelCache.clear();
  const manifest = (await (await fetch(url)).json()) as { variants: { fp32: { files: Array<{ size: number }> } } };
  const bytes = manifest.variants.fp32.files.reduce((sum, f) => sum + f.size, 0);
  const phases: MemoryPhase[] = [];
  const phase = async (name: string, work: (mark: (at: 'cached') => void) => Promise<void>) => {
    // Let the memory of the last phase go, and the runner take its baseline.
    await pause(2500);
    log(`memory: ${name}`);
    const marks: MemoryPhase = { name, start: Date.now(), ready: 0 };
    await work(() => (marks.cached ??= Date.now()));
    marks.ready = Date.now();
    phases.push(marks);
  };
  // Each phase ends with one run, as the ORT phase does.
  const load = async (u: string, cached?: (at: 'cached') => void) => {
    const model = await loadModel(u, { backend: 'wasm', variant: 'fp32', onProgress: (e) => void (e.phase === 'compile' && cached?.('cached')) });
    const input = model.info.inputs[0]!;
    const dims = input.dims.map((d) => (typeof d === 'number' ? d : 1));
    const out = Object.values(await model.run({ [input.name]: { type: 'float32', data: new Float32Array(dims.reduce((a, b) => a * b, 1)), dims } }))[0]!;
    if (out.data.length === 0) throw new Error('the model gave no output');
    await model.dispose();
  };
  await phase('ORT: fetch → create', () => rawOrt(url));
  await phase('ondevice, cold (download + cache + create)', (mark) => load(url, mark));
  await phase('ondevice, warm', () => load(url));
  if (externalUrl) {
    await load(externalUrl);
    await phase('ondevice, warm, external data', () => load(externalUrl));
  }
  await modelCache.clear();
  return { bytes, phases };
}

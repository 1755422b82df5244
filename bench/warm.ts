/**
 * @file Suite "warm": a warm load (model in IndexedDB) to the first result through ondevice, against
 * onnxruntime-web creating the same session from bytes already in memory, and raw IndexedDB read
 * throughput of the same stored chunks (the physical floor of reading a model from the device).
 */
import * as ort from 'onnxruntime-web/wasm';
import { loadModel, modelCache, type Model, type TensorMap } from '../src/index.js';
import { stats, type Stats } from './stats.js';

export interface WarmReport {
  model: string;
  bytes: number;
  direct: Stats;
  ondevice: Stats;
  idbRead: Stats;
}

interface ManifestJson {
  name: string;
  variants: { fp32: { files: Array<{ path: string; size: number; sha256: string }> } };
  inputs: Array<{ name: string; dims: Array<number | string> }>;
}

function inputsFor(manifest: ManifestJson): TensorMap {
  const input = manifest.inputs[0]!;
  const dims = input.dims.map((d) => (typeof d === 'number' ? d : 1));
  return { [input.name]: { type: 'float32', data: new Float32Array(dims.reduce((a, b) => a * b, 1)), dims } };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

/** Reads every chunk of a stored file straight from IndexedDB, as fast as the API allows. */
async function rawRead(sha256: string): Promise<number> {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const open = indexedDB.open('ondevice-chunks');
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  const t0 = performance.now();
  const values = await new Promise<unknown[]>((resolve, reject) => {
    const range = IDBKeyRange.bound(`${sha256}/`, `${sha256}/\uffff`);
    const request = db.transaction('chunks', 'readonly').objectStore('chunks').getAll(range);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const ms = performance.now() - t0;
  db.close();
  if (values.length === 0) throw new Error('the model is not in IndexedDB');
  return ms;
}

export async function warmSuite(manifestUrls: string[], reps: number, log: (s: string) => void): Promise<WarmReport[]> {
  ort.env.logLevel = 'error';
  ort.env.wasm.numThreads = 1;
  await modelCache.clear();
  const reports: WarmReport[] = [];
  for (const url of manifestUrls) {
    const manifest = (await (await fetch(url)).json()) as ManifestJson;
    const file = manifest.variants.fp32.files[0]!;
    const bytes = new Uint8Array(await (await fetch(new URL(file.path, url))).arrayBuffer());
    const inputs = inputsFor(manifest);
    // Cache the model, and keep a worker alive: both sides then start with the runtime loaded.
    const keeper: Model = await loadModel(url, { backend: 'wasm', variant: 'fp32' });
    const samples = { direct: [] as number[], ondevice: [] as number[], idbRead: [] as number[] };
    for (let r = 0; r < reps; r++) {
      log(`warm ${manifest.name}: round ${r + 1}/${reps}`);
      let t0 = performance.now();
      const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(inputs)) feeds[name] = new ort.Tensor('float32', t.data.slice() as Float32Array, t.dims);
      await session.run(feeds);
      samples.direct.push(performance.now() - t0);
      await session.release();
      await settle();

      t0 = performance.now();
      const model = await loadModel(url, { backend: 'wasm', variant: 'fp32' });
      await model.run(structuredClone(inputs));
      samples.ondevice.push(performance.now() - t0);
      if (!model.info.fromCache) throw new Error('expected a warm load from the cache');
      await model.dispose();
      // Let the background update check and collection (after the first result) finish, so that
      // they do not spill into the next contender's measurement.
      await settle();

      samples.idbRead.push(await rawRead(file.sha256));
    }
    await keeper.dispose();
    reports.push({ model: manifest.name, bytes: file.size, direct: stats(samples.direct), ondevice: stats(samples.ondevice), idbRead: stats(samples.idbRead) });
  }
  return reports;
}

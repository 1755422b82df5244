/** @file Suite "tfjs": run() on the TF.js digits layers model through ondevice (worker, in-thread) vs TF.js on the main thread, per backend. */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.fesm.js';
import { loadLayersModel, type LayersModel } from '@tensorflow/tfjs-layers';
import { loadModel, type Backend } from '../src/index.js';
import { readArtifacts } from '../src/runtime/tfjs/artifacts.js';
import { wasmFiles } from '../src/runtime/tfjs/wasm-files.js';
import { measure, viaOndevice, type BackendReport, type Contender } from './latency.js';

const MANIFEST = new URL('/digits-tfjs/layers/manifest.json', location.href).href;
const NHWC = (n: number) => [n, 8, 8, 1];

/** The baseline a TF.js team has today: the model in this thread, predict(), read the result, dispose. */
async function direct(backend: Backend, model: LayersModel): Promise<Contender> {
  await tf.setBackend(backend);
  return {
    name: 'TF.js, main thread',
    async run(data, n) {
      // Same backend as ondevice's in-thread contender (one TF.js engine per page).
      if (tf.getBackend() !== backend) await tf.setBackend(backend);
      const x = tf.tensor(data, NHWC(n));
      const y = model.predict(x) as tf.Tensor;
      await y.data();
      tf.dispose([x, y]);
    },
    close: async () => undefined,
  };
}

async function readModel(): Promise<LayersModel> {
  const manifest = (await (await fetch(MANIFEST)).json()) as { variants: { fp32: { files: Array<{ path: string }> } } };
  const files = await Promise.all(manifest.variants.fp32.files.map(async (f) => ({ path: f.path, bytes: new Uint8Array(await (await fetch(new URL(f.path, MANIFEST))).arrayBuffer()) })));
  const { modelTopology, weightSpecs, weightData } = readArtifacts(files, 'layers-model');
  return loadLayersModel(tf.io.fromMemory({ modelTopology, weightSpecs: weightSpecs as tf.io.WeightsManifestEntry[], weightData }));
}

export async function tfjsLatencySuite(backends: Backend[], log: (s: string) => void): Promise<BackendReport[]> {
  setWasmPaths(wasmFiles());
  const images = new Float32Array(await (await fetch('/digits/test-set.bin')).arrayBuffer());
  const reports: BackendReport[] = [];
  for (const backend of backends) {
    await tf.setBackend(backend);
    const model = await readModel();
    const contenders = [
      await direct(backend, model),
      viaOndevice(await loadModel(MANIFEST, { backend, worker: true }), 'ondevice, worker', NHWC),
      viaOndevice(await loadModel(MANIFEST, { backend, worker: false }), 'ondevice, in-thread', NHWC),
    ];
    reports.push(await measure(backend, 'the TF.js digits layers CNN (fp32, 21 kB)', contenders, images, log));
    model.dispose();
  }
  return reports;
}

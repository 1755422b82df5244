/**
 * @file Suite "memory": loads a large model (cold: downloaded and cached) so that the runner can
 * sample the renderer process's memory, and marks when the download+cache phase ends (the first
 * `compile` event) so that it can be told apart from onnxruntime-web's own copy of the model.
 */
import { loadModel, modelCache } from '../src/index.js';

export interface MemoryMarks {
  /** Date.now() values, comparable with the runner's clock. */
  start: number;
  cached: number;
  ready: number;
  bytes: number;
}

export async function memorySuite(url: string, log: (s: string) => void): Promise<MemoryMarks> {
  await modelCache.clear();
  const manifest = (await (await fetch(url)).json()) as { variants: { fp32: { files: Array<{ size: number }> } } };
  const bytes = manifest.variants.fp32.files.reduce((sum, f) => sum + f.size, 0);
  // Let the runner take its baseline first.
  await new Promise((r) => setTimeout(r, 1500));
  log('memory: loading');
  const marks: MemoryMarks = { start: Date.now(), cached: 0, ready: 0, bytes };
  const model = await loadModel(url, {
    backend: 'wasm',
    onProgress: (e) => {
      if (e.phase === 'compile' && marks.cached === 0) marks.cached = Date.now();
    },
  });
  marks.ready = Date.now();
  await model.dispose();
  await modelCache.clear();
  return marks;
}

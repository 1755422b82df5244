/**
 * @file Suite "decode"'s raw worker: onnxruntime-web driven directly in a worker of its own, the whole
 * loop there (as ondevice's generate() runs it), to tell what a worker thread itself costs here.
 */
import * as ort from 'onnxruntime-web/wasm';
import { directLoop, directSessions, type Shape } from './decode-direct.js';

let sessions: Record<string, ort.InferenceSession> | undefined;
self.addEventListener('message', async (e: MessageEvent<{ url: string; shape: Shape; sequences: number }>) => {
  ort.env.logLevel = 'error';
  ort.env.wasm.numThreads = 1;
  sessions ??= await directSessions(ort, e.data.url, 'wasm', false);
  const t0 = performance.now();
  for (let i = 0; i < e.data.sequences; i++) await directLoop(ort, sessions, e.data.shape, false);
  self.postMessage(performance.now() - t0);
});

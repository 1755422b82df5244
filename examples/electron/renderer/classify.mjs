/**
 * The renderer's half: the same release, run in the renderer with the browser entry (a Web Worker,
 * WebGPU or WebAssembly, cached in the renderer's origin storage). Tested in Chromium without Electron.
 */
import { loadModel } from 'ondevice';

/** @param {string} manifestUrl */
export async function rendererModel(manifestUrl) {
  const model = await loadModel(manifestUrl);
  return {
    info: model.info,
    /** @param {Float32Array} pixels an 8×8 image, 0–16 per pixel */
    async classify(pixels) {
      // run() transfers the input's buffer to the worker: keep the caller's copy.
      const { logits } = await model.run({ image: { type: 'float32', data: pixels.slice(), dims: [1, 1, 8, 8] } });
      const scores = Array.from(/** @type {Float32Array} */ (logits?.data ?? []));
      return { digit: scores.indexOf(Math.max(...scores)), scores, version: model.info.version };
    },
    dispose: () => model.dispose(),
  };
}

/**
 * The main process's half: a model on onnxruntime-node, cached on disk under the app's user data,
 * kept up to date, and reached from renderers over IPC (see main.mjs). Plain Node: no Electron API
 * here, so it runs (and is tested) without Electron.
 */
import { loadModel, openModelCache } from 'ondevice/node';

/**
 * @param {{ manifestUrl: string, cacheDir: string, log?: (line: string) => void }} options
 */
export async function createModelService({ manifestUrl, cacheDir, log = console.log }) {
  let model = await loadModel(manifestUrl, {
    cacheDir,
    // A newer verified version is in the cache: switch between requests.
    onUpdate: (/** @type {import('ondevice/node').UpdateInfo} */ { version, revoked }) => {
      log(`model ${version} ${revoked ? 'replaces a revoked version' : 'is ready'}: switching`);
      void model.reload();
    },
  });
  log(`model ${model.info.name} ${model.info.version} on ${model.info.backend} (${model.info.fromCache ? 'from the cache' : 'downloaded'})`);
  return {
    info: () => model.info,
    /** @param {Float32Array} pixels an 8×8 image, 0–16 per pixel */
    async classify(pixels) {
      const { logits } = await model.run({ image: { type: 'float32', data: pixels, dims: [1, 1, 8, 8] } });
      const scores = Array.from(/** @type {Float32Array} */ (logits?.data ?? []));
      return { digit: scores.indexOf(Math.max(...scores)), scores, version: model.info.version };
    },
    usage: () => openModelCache(cacheDir).usage(),
    dispose: () => model.dispose(),
  };
}

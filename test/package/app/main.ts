// A consumer app, as a user writes it: no bundler configuration, `ondevice` from the registry tarball.
import { loadModel, isOndeviceError, type Backend, type ModelInfo } from 'ondevice';

interface Result {
  info?: ModelInfo;
  logits?: number[];
  error?: { code: string; message: string };
}

declare global {
  interface Window {
    result?: Result;
  }
  /** What the README's example leaves to the app: the pixels it feeds. */
  var pixels: Float32Array;
}

async function main(): Promise<Result> {
  const params = new URLSearchParams(location.search);
  // ?readme: the README's browser example, extracted as written into readme-example.ts by the test.
  if (params.has('readme')) {
    globalThis.pixels = new Float32Array(64);
    try {
      await import('./readme-example.js');
      return {};
    } catch (error) {
      if (isOndeviceError(error)) return { error: { code: error.code, message: error.message } };
      return { error: { code: 'UNEXPECTED', message: String(error) } };
    }
  }
  const backend = (params.get('backend') ?? 'auto') as Backend | 'auto';
  // ?model=tfjs: the TF.js layers model (NHWC input) instead of the ONNX one.
  const tfjs = params.get('model') === 'tfjs';
  try {
    const model = await loadModel(tfjs ? '/models/digits-layers/manifest.json' : '/models/digits/manifest.json', { backend });
    const images = new Float32Array(await (await fetch('/models/digits/test-set.bin')).arrayBuffer());
    const count = 20;
    const dims = tfjs ? [count, 8, 8, 1] : [count, 1, 8, 8];
    const { logits } = await model.run({ image: { type: 'float32', data: images.slice(0, count * 64), dims } });
    const result = { info: model.info, logits: Array.from(logits!.data as Float32Array) };
    await model.dispose();
    return result;
  } catch (error) {
    if (isOndeviceError(error)) return { error: { code: error.code, message: error.message } };
    return { error: { code: 'UNEXPECTED', message: String(error) } };
  }
}

void main().then((result) => {
  window.result = result;
});

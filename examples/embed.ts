/**
 * @file The transformers.js example page: a feature-extraction pipeline whose files come from an
 * ondevice release (`transformersCache`), the release it serves, and an update offered on reload.
 */
import { env, pipeline, type FeatureExtractionPipeline } from '@huggingface/transformers';
import { modelCache, transformersCache } from 'ondevice';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const phase = $('phase');
const REPO = 'acme/tiny-bert';

function list(id: string, rows: Array<[string, string]>): void {
  $(id).replaceChildren(...rows.flatMap(([k, v]) => [Object.assign(document.createElement('dt'), { textContent: k }), Object.assign(document.createElement('dd'), { textContent: v })]));
}

let extractor: FeatureExtractionPipeline;

async function compare(): Promise<void> {
  const sentences = [$<HTMLInputElement>('a').value, $<HTMLInputElement>('b').value];
  const embeddings = (await extractor(sentences, { pooling: 'mean', normalize: true })).tolist() as number[][];
  // Normalised: the dot product is the cosine.
  const similarity = embeddings[0]!.reduce((sum, v, i) => sum + v * embeddings[1]![i]!, 0);
  $('similarity').textContent = similarity.toFixed(4);
  phase.textContent = 'ready';
}

async function start(): Promise<void> {
  // transformers.js's onnxruntime-web WASM build from this origin (vite.config.ts serves it at /ort/).
  env.backends.onnx.wasm!.wasmPaths = { mjs: '/ort/ort-wasm-simd-threaded.asyncify.mjs', wasm: '/ort/ort-wasm-simd-threaded.asyncify.wasm' };
  env.allowLocalModels = false;
  env.useCustomCache = true;
  const cache = await transformersCache({
    models: { [REPO]: '/tiny-bert-release/manifest.json' },
    onUpdate: ({ version, revoked }) => {
      $('update-text').textContent = revoked ? 'This version was revoked.' : `Version ${version} is ready.`;
      $('update').hidden = false;
    },
    onError: (error) => (phase.textContent = `error: ${error.code}: ${error.message}`),
  });
  env.customCache = cache;
  const started = performance.now();
  extractor = await pipeline('feature-extraction', REPO, { dtype: 'q8', device: 'wasm' });
  list('release', [
    ['repo', REPO],
    ['version', cache.version(REPO) ?? '?'],
    ['weights', 'onnx/model_quantized.onnx (int8)'],
    ['pipeline ready in', `${(performance.now() - started).toFixed(0)} ms`],
  ]);
  await compare();
}

for (const id of ['a', 'b']) $(id).addEventListener('input', () => void compare().catch((e: unknown) => (phase.textContent = `error: ${(e as Error).message}`)));
$('reload').addEventListener('click', () => location.reload());
$('publish').addEventListener('click', async () => {
  await fetch('/tiny-bert-host/publish', { method: 'POST' });
  phase.textContent = 'published 2.0.0 on the host; reload the page';
});
$('reset').addEventListener('click', async () => {
  await fetch('/tiny-bert-host/reset', { method: 'POST' });
  await modelCache.clear();
  location.reload();
});

start().catch((e: unknown) => (phase.textContent = `error: ${(e as Error).message}`));

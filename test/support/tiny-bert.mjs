/** @file The tiny BERT of models/tiny-bert (a transformers.js repo folder, two versions) published with the CLI, for the transformersCache tests. */
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RUN_DIR } from './exporters.mjs';
import { publishTwoVersions } from './seq2seq.mjs';

export const TINY_BERT = fileURLToPath(new URL('../../models/tiny-bert/', import.meta.url));

/** Sentences both vocabularies split differently (v2 knows "private", "offline", "browser", …). */
export const SENTENCES = ['Hello world, the model runs on device.', 'Private data never leaves the browser offline!', 'update the tokenizer weights'];

/**
 * Publishes `v1` (1.0.0 alone) and `both` (1.0.0, then 2.0.0 at the same URL) under `root`.
 * @param {string} root a folder path ending in `/`
 */
export async function tinyBertReleases(root) {
  await publishTwoVersions(TINY_BERT, root, 'tiny-bert');
}

/** The bytes of the external-data fixture's `large.bin`: 5 MiB, deterministic. */
export const LARGE_ASSET = Uint8Array.from({ length: 5 * 1024 * 1024 }, (_, i) => (Math.imul(i, 2654435761) >>> 24) & 0xff);

/**
 * The tiny BERT v1 as big exports ship it: its int8 graph's weights in external data
 * (`onnx/model_quantized.onnx` and `model_quantized.onnx_data`, made by `ondevice quantize
 * --external-data`), its config saying so as transformers.js reads it
 * (`transformers.js_config.use_external_data_format`); and a top-level `large.bin` of 5 MiB, larger
 * than what transformersCache holds in memory (as big tokenizers and vocabularies are), so that it is
 * streamed from storage. The folder under `<root>external-src/`, published as 1.0.0 under `<root>external/`.
 * @param {string} root a folder path ending in `/`
 */
export async function tinyBertExternal(root) {
  const { main } = await import('../../src/cli/main.js');
  const folder = `${root}external-src/`;
  rmSync(folder, { recursive: true, force: true });
  rmSync(`${root}external`, { recursive: true, force: true });
  cpSync(`${TINY_BERT}v1`, folder, { recursive: true });
  rmSync(`${folder}onnx/model_quantized.onnx`);
  const io = { out: () => undefined, err: (/** @type {string} */ t) => console.error(t) };
  const run = async (/** @type {string[]} */ ...argv) => {
    if ((await main(argv, io)) !== 0) throw new Error(`ondevice ${argv.join(' ')} failed`);
  };
  await run('quantize', `${folder}onnx/model.onnx`, '--to', 'int8', '--external-data', '-o', `${folder}onnx/model_quantized.onnx`);
  const config = JSON.parse(readFileSync(`${folder}config.json`, 'utf8'));
  config['transformers.js_config'] = { use_external_data_format: { 'model_quantized.onnx': 1 } };
  writeFileSync(`${folder}config.json`, JSON.stringify(config, null, 2));
  writeFileSync(`${folder}large.bin`, LARGE_ASSET);
  await run('publish', folder, `${root}external`, '--version', '1.0.0', '--name', 'tiny-bert-external');
  if (!existsSync(`${folder}onnx/model_quantized.onnx_data`)) throw new Error('quantize --external-data wrote no model_quantized.onnx_data');
  return { folder, release: `${root}external/` };
}

/** The onnxruntime-web build transformers.js imports (its own version, nested under it unless npm hoisted it). */
function transformersOrtDist() {
  for (const dir of ['../../node_modules/@huggingface/transformers/node_modules/onnxruntime-web/dist/', '../../node_modules/onnxruntime-web/dist/']) {
    const path = fileURLToPath(new URL(dir, import.meta.url));
    if (existsSync(`${path}ort-wasm-simd-threaded.asyncify.wasm`)) return path;
  }
  throw new Error('onnxruntime-web for @huggingface/transformers not found: npm ci');
}

/**
 * The releases under the model server's root for the browser tests, by URL path; and the WASM build
 * of transformers.js's onnxruntime-web served from the same host (transformers.js would fetch it from
 * a CDN, which tests, like apps that keep their users' requests to themselves, must not).
 */
export async function tinyBertServed() {
  const root = fileURLToPath(new URL(`../../models/generated/${RUN_DIR}/tiny-bert/`, import.meta.url));
  await tinyBertReleases(root);
  await tinyBertExternal(root);
  mkdirSync(`${root}ort`, { recursive: true });
  const dist = transformersOrtDist();
  for (const ext of ['mjs', 'wasm']) copyFileSync(`${dist}ort-wasm-simd-threaded.asyncify.${ext}`, `${root}ort/ort-wasm-simd-threaded.asyncify.${ext}`);
  const base = `/generated/${RUN_DIR}/tiny-bert/`;
  return {
    v1: `${base}v1/manifest.json`,
    both: `${base}both/manifest.json`,
    /** The v1 folder with its int8 weights in external data (see tinyBertExternal), and its release. */
    external: { folder: `${base}external-src`, manifest: `${base}external/manifest.json` },
    folders: '/tiny-bert/',
    sentences: SENTENCES,
    wasmPaths: { mjs: `${base}ort/ort-wasm-simd-threaded.asyncify.mjs`, wasm: `${base}ort/ort-wasm-simd-threaded.asyncify.wasm` },
  };
}

/** @file The tiny BERT of models/tiny-bert (a transformers.js repo folder, two versions) published with the CLI, for the transformersCache tests. */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
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
  mkdirSync(`${root}ort`, { recursive: true });
  const dist = transformersOrtDist();
  for (const ext of ['mjs', 'wasm']) copyFileSync(`${dist}ort-wasm-simd-threaded.asyncify.${ext}`, `${root}ort/ort-wasm-simd-threaded.asyncify.${ext}`);
  const base = `/generated/${RUN_DIR}/tiny-bert/`;
  return {
    v1: `${base}v1/manifest.json`,
    both: `${base}both/manifest.json`,
    folders: '/tiny-bert/',
    sentences: SENTENCES,
    wasmPaths: { mjs: `${base}ort/ort-wasm-simd-threaded.asyncify.mjs`, wasm: `${base}ort/ort-wasm-simd-threaded.asyncify.wasm` },
  };
}

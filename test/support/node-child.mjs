/**
 * A process that uses `ondevice/node` as an app would (the built entry): loads the model, runs it on
 * the first ten test images, prints one JSON line, disposes it, and ends by itself.
 * argv: <built node.js> <manifest url> <cache dir> [hold | wait]
 *   hold: print download progress (to be killed mid-download); wait: keep the model loaded until stdin closes
 */
import { readFileSync } from 'node:fs';

const [entry, url, cacheDir, mode] = process.argv.slice(2);
const { loadModel } = await import(/** @type {string} */ (entry));
const meta = JSON.parse(readFileSync(new URL('../../models/digits/test-set.json', import.meta.url), 'utf8'));
const raw = readFileSync(new URL(`../../models/digits/${meta.file}`, import.meta.url));
const images = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + 640 * 4));
try {
  const started = Date.now();
  const model = await loadModel(url, { cacheDir, onProgress: (/** @type {{ phase: string, loaded?: number }} */ e) => e.phase === 'download' && mode === 'hold' && process.stdout.write(`${JSON.stringify({ downloading: e.loaded })}\n`) });
  const out = await model.run({ image: { type: 'float32', data: images, dims: [10, 1, 8, 8] } });
  process.stdout.write(`${JSON.stringify({ pid: process.pid, version: model.info.version, fromCache: model.info.fromCache, logits: Array.from(out.logits.data), ms: Date.now() - started })}\n`);
  if (mode === 'wait') await new Promise((resolve) => process.stdin.on('end', resolve).resume());
  await model.dispose();
} catch (/** @type {any} */ error) {
  process.stdout.write(`${JSON.stringify({ pid: process.pid, error: { code: error.code, message: error.message } })}\n`);
  process.exitCode = 1;
}

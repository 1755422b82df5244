#!/usr/bin/env node
/**
 * @file Writes a synthetic ONNX model of about N bytes (y = x·W, W seeded pseudo-random; or, with
 * `tensors` K > 1, a chain of K MatMuls, as a real network's many weight tensors are) and its
 * `ondevice/1` manifest, for benchmarks and large-model tests. Nothing is committed: the
 * file is generated where it is needed. A minimal protobuf encoder streams the weights to disk and
 * hashes them on the way, so a 300 MB model never sits in memory.
 *
 *   node scripts/synthetic-model.mjs <out-dir> --mb 100 [--tensors 32] [--external]
 */
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const enc = new TextEncoder();

/** @param {number | bigint} value */
function varint(value) {
  let v = BigInt(value);
  const out = [];
  while (v >= 0x80n) {
    out.push(Number((v & 0x7fn) | 0x80n));
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

/** @param {Uint8Array[]} parts */
function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const key = (/** @type {number} */ field, /** @type {number} */ wire) => varint((field << 3) | wire);
const int = (/** @type {number} */ field, /** @type {number} */ value) => concat([key(field, 0), varint(value)]);
const bytes = (/** @type {number} */ field, /** @type {Uint8Array} */ value) => concat([key(field, 2), varint(value.length), value]);
const str = (/** @type {number} */ field, /** @type {string} */ value) => bytes(field, enc.encode(value));

/** ValueInfoProto of a float32 tensor; dims are numbers or names. */
function valueInfo(/** @type {string} */ name, /** @type {Array<number | string>} */ dims) {
  const shape = concat(dims.map((d) => bytes(1, typeof d === 'number' ? int(1, d) : str(2, d))));
  const tensorType = concat([int(1, 1), bytes(2, shape)]);
  return concat([str(1, name), bytes(2, bytes(1, tensorType))]);
}

/** The ~300 MB model the browser tests download (models/generated/large), made once and reused. */
export const LARGE_MODEL = { dir: fileURLToPath(new URL('../models/generated/large/', import.meta.url)), options: { mb: 300, external: true, name: 'large' } };

/**
 * A ~24 MB model (models/generated/resumable) for the resume test: its data file is past two of the
 * store's 4 MiB chunks and a stall at 9 MiB, and a tenth of the large one's bytes to download again.
 */
export const RESUMABLE_MODEL = { dir: fileURLToPath(new URL('../models/generated/resumable/', import.meta.url)), options: { mb: 24, external: true, name: 'resumable' } };

/**
 * Writes the model and its manifest into `dir`; returns the manifest. Reuses what is there if the
 * manifest already describes a model of the same shape.
 * With `external`, the weights go to a separate `.data` file (ONNX external data), named by its hash,
 * and the variant lists both files: the model first, then its data.
 * @param {string} dir
 * @param {{ mb: number, name?: string, version?: string, external?: boolean, tensors?: number }} options
 */
export function writeSyntheticModel(dir, { mb, name = 'synthetic', version = '1.0.0', external = false, tensors = 1 }) {
  const n = Math.max(8, Math.round(Math.sqrt((mb * 1024 * 1024) / 4 / tensors)));
  const manifestPath = join(dir, 'manifest.json');
  if (existsSync(manifestPath)) {
    const old = JSON.parse(readFileSync(manifestPath, 'utf8'));
    const files = old.variants?.fp32?.files ?? [];
    if (old.metadata?.n === n && (old.metadata?.tensors ?? 1) === tensors && old.metadata?.external === external && old.name === name && old.version === version && files.every((/** @type {{ path: string }} */ f) => existsSync(join(dir, f.path)))) return old;
  }
  mkdirSync(dir, { recursive: true });
  const rawLength = n * n * 4;
  /** @type {Array<{ path: string, size: number, sha256: string }>} */
  const files = [];
  // One tensor keeps the names (and so the bytes) of the first version of this script.
  const weight = (/** @type {number} */ i) => (tensors === 1 ? 'W' : `W${i}`);
  const value = (/** @type {number} */ i) => (i === 0 ? 'x' : i === tensors ? 'y' : `h${i}`);
  const fill = (/** @type {(part: Uint8Array) => void} */ write, /** @type {number} */ i) => writeWeights(n, write, i, tensors > 1);
  /** @type {Uint8Array[]} */
  const tensorHeads = [];
  let dataPath = '';
  if (external) {
    const data = streamFile(dir, 'data', (write) => {
      for (let i = 0; i < tensors; i++) fill(write, i);
    });
    dataPath = `${name}.fp32.${data.sha256.slice(0, 8)}.data`;
    renameSync(data.tmp, join(dir, dataPath));
    files.push({ path: dataPath, size: data.size, sha256: data.sha256 });
  }
  const entry = (/** @type {string} */ k, /** @type {string} */ v) => bytes(13, concat([str(1, k), str(2, v)]));
  for (let i = 0; i < tensors; i++) {
    // External: data_location = EXTERNAL (1); external_data: location, offset, length. Else raw_data (9).
    tensorHeads.push(
      external
        ? concat([int(1, n), int(1, n), int(2, 1), str(8, weight(i)), entry('location', dataPath), entry('offset', String(i * rawLength)), entry('length', String(rawLength)), int(14, 1)])
        : concat([int(1, n), int(1, n), int(2, 1), str(8, weight(i)), key(9, 2), varint(rawLength)]),
    );
  }
  const head = (/** @type {number} */ i) => /** @type {Uint8Array} */ (tensorHeads[i]);
  const bodyLength = (/** @type {number} */ i) => head(i).length + (external ? 0 : rawLength);
  const initializers = tensorHeads.map((_, i) => concat([key(5, 2), varint(bodyLength(i))]));
  const nodes = concat(
    Array.from({ length: tensors }, (_, i) => bytes(1, concat([str(1, value(i)), str(1, weight(i)), str(2, value(i + 1)), str(3, tensors === 1 ? 'matmul' : `matmul${i}`), str(4, 'MatMul')]))),
  );
  const tail = concat([bytes(11, valueInfo('x', ['batch', n])), bytes(12, valueInfo('y', ['batch', n]))]);
  const graphHead = concat([nodes, str(2, name)]);
  const graphLength = graphHead.length + initializers.reduce((sum, h, i) => sum + h.length + bodyLength(i), 0) + tail.length;
  const modelHead = concat([int(1, 8), bytes(8, concat([str(1, ''), int(2, 17)])), str(2, 'ondevice synthetic-model'), key(7, 2), varint(graphLength)]);
  const model = streamFile(dir, 'onnx', (write) => {
    write(modelHead);
    write(graphHead);
    for (let i = 0; i < tensors; i++) {
      write(/** @type {Uint8Array} */ (initializers[i]));
      write(head(i));
      if (!external) fill(write, i);
    }
    write(tail);
  });
  const path = `${name}.fp32.${model.sha256.slice(0, 8)}.onnx`;
  renameSync(model.tmp, join(dir, path));
  files.unshift({ path, size: model.size, sha256: model.sha256 });
  const manifest = {
    format: 'ondevice/1',
    name,
    version,
    runtime: 'onnx',
    variants: { fp32: { files } },
    inputs: [{ name: 'x', type: 'float32', dims: ['batch', n] }],
    outputs: [{ name: 'y', type: 'float32', dims: ['batch', n] }],
    metadata: { n, tensors, external, synthetic: true },
  };
  writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** Writes a file through `fill`, hashing it on the way. */
function streamFile(/** @type {string} */ dir, /** @type {string} */ ext, /** @type {(write: (part: Uint8Array) => void) => void} */ fill) {
  const tmp = join(dir, `.${ext}.tmp`);
  const fd = openSync(tmp, 'w');
  const hash = createHash('sha256');
  let size = 0;
  fill((part) => {
    writeSync(fd, part);
    hash.update(part);
    size += part.length;
  });
  closeSync(fd);
  return { tmp, size, sha256: hash.digest('hex') };
}

/**
 * n×n small seeded pseudo-random float32 weights (xorshift32), 1 MiB at a time; tensor `index` has its
 * own seed. `unitGain`: scaled so that a chain of them keeps its values near 1 (no denormals).
 */
function writeWeights(/** @type {number} */ n, /** @type {(part: Uint8Array) => void} */ write, index = 0, unitGain = false) {
  const block = new Float32Array(256 * 1024);
  const scale = unitGain ? Math.sqrt(12 / n) : 1 / n;
  let state = (0x9e3779b9 + index * 0x85ebca6b) >>> 0 || 1;
  for (let left = n * n; left > 0; left -= block.length) {
    const count = Math.min(left, block.length);
    for (let i = 0; i < count; i++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      block[i] = ((state >>> 0) / 0xffffffff - 0.5) * scale;
    }
    write(new Uint8Array(block.buffer, 0, count * 4));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2];
  const mb = Number(process.argv[process.argv.indexOf('--mb') + 1] ?? 100);
  if (!dir) {
    console.error('usage: node scripts/synthetic-model.mjs <out-dir> --mb 100');
    process.exit(1);
  }
  const tensors = process.argv.includes('--tensors') ? Number(process.argv[process.argv.indexOf('--tensors') + 1]) : 1;
  const manifest = writeSyntheticModel(dir, { mb, tensors, external: process.argv.includes('--external') });
  for (const f of manifest.variants.fp32.files) console.log(`${join(dir, f.path)}: ${f.size} bytes`);
}

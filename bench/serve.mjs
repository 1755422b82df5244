/**
 * @file The `serve` suite (Node only): `ondevice serve` (the built command, in its own process) under
 * autocannon, beside onnxruntime-node called in this process on the same file (the floor), and the
 * smallest HTTP server around onnxruntime-node (serve-minimal.mjs: what HTTP and JSON alone cost).
 * Requests a second and latency at concurrency 1 and 8, for the digits model (one 8×8 image, a run of
 * ~15 µs) and a synthetic MatMul model (a run of about a millisecond). Goal: ≥ 70 % of the floor's
 * throughput at concurrency 8.
 */
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
// @ts-expect-error autocannon ships no types
import autocannon from 'autocannon';
import { writeSyntheticModel } from '../scripts/synthetic-model.mjs';

const REPO = fileURLToPath(new URL('../', import.meta.url));

/** @typedef {{ rps: number, p50: number, p99: number, errors: number }} Row */
/** @typedef {{ label: string, manifest: string, name: string, input: string, dims: number[], data: Float32Array }} Subject */

/** @param {number[]} sorted @param {number} q */
const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/** @param {string} manifest */
const fp32File = (manifest) => join(manifest, '..', JSON.parse(readFileSync(manifest, 'utf8')).variants.fp32.files[0].path);

/** The models: digits (one test image) and a synthetic MatMul chain (x = ones). */
function subjects(/** @type {string} */ out) {
  const meta = JSON.parse(readFileSync(`${REPO}models/digits/test-set.json`, 'utf8'));
  const raw = readFileSync(`${REPO}models/digits/${meta.file}`);
  const digits = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + 64 * 4));
  const synthetic = writeSyntheticModel(`${out}serve-synthetic`, { mb: 16, name: 'serve-synthetic', tensors: 4 });
  const n = synthetic.metadata.n;
  return /** @type {Subject[]} */ ([
    { label: 'digits, one 8×8 image', manifest: `${REPO}models/digits/release/manifest.json`, name: 'digits', input: 'image', dims: [1, 1, 8, 8], data: digits },
    { label: `synthetic 16 MB MatMul chain, x of ${n}`, manifest: `${out}serve-synthetic/manifest.json`, name: 'serve-synthetic', input: 'x', dims: [1, n], data: new Float32Array(n).fill(1) },
  ]);
}

/** onnxruntime-node in this process: `concurrency` callers, each running one input after another, for `seconds`. */
async function floor(/** @type {Subject} */ s, /** @type {number} */ concurrency, /** @type {number} */ seconds) {
  const ort = (await import('onnxruntime-node')).default;
  const session = await ort.InferenceSession.create(fp32File(s.manifest), { intraOpNumThreads: 1, extra: { 'session.intra_op.allow_spinning': '0' } });
  const once = () => session.run({ [s.input]: new ort.Tensor('float32', s.data.slice(), s.dims) });
  for (let i = 0; i < 50; i++) await once();
  const latencies = await loop(once, concurrency, seconds);
  await session.release();
  return { rps: latencies.length / seconds, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), errors: 0 };
}

/**
 * Throughput from autocannon; latency from a keep-alive `node:http` client with the same number of
 * connections (autocannon's latency is in whole milliseconds, and these runs take microseconds).
 */
async function cannon(/** @type {string} */ url, /** @type {string | Buffer} */ body, /** @type {number} */ connections, /** @type {number} */ duration, /** @type {Record<string, string>} */ headers = { 'content-type': 'application/json' }) {
  const result = await autocannon({ url, method: 'POST', body, headers, connections, duration });
  const latencies = await timed(url, body, connections, Math.min(2, duration), headers);
  return { rps: result.requests.average, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), errors: result.errors + result.non2xx + result.timeouts };
}

/** Per-request latency (ms, sorted) over `seconds`, `connections` requests in flight. */
async function timed(/** @type {string} */ url, /** @type {string | Buffer} */ body, /** @type {number} */ connections, /** @type {number} */ seconds, /** @type {Record<string, string>} */ headers) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const target = new URL(url);
  const once = () =>
    new Promise((resolve, reject) => {
      const req = request({ agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      });
      req.on('error', reject);
      req.end(body);
    });
  const latencies = await loop(once, connections, seconds);
  agent.destroy();
  return latencies;
}

/** `concurrency` callers, each calling `once` one call after another for `seconds`: each call's latency (ms), sorted. */
async function loop(/** @type {() => Promise<unknown>} */ once, /** @type {number} */ concurrency, /** @type {number} */ seconds) {
  /** @type {number[]} */
  const latencies = [];
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const t = performance.now();
        await once();
        latencies.push(performance.now() - t);
      }
    }),
  );
  return latencies.sort((a, b) => a - b);
}

/** Starts a server process and resolves its URL (the first `on http://…` it prints). */
async function start(/** @type {string[]} */ args) {
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: REPO });
  const url = await new Promise((resolve, reject) => {
    proc.stdout.on('data', (/** @type {Buffer} */ c) => {
      const m = /on (http:\/\/\S+)/.exec(c.toString());
      if (m) resolve(m[1]);
    });
    proc.once('exit', (code) => reject(new Error(`${args[1]} exited ${code}`)));
  });
  return { url: /** @type {string} */ (url), stop: async () => (proc.kill('SIGTERM'), await new Promise((r) => proc.once('exit', r))) };
}

/** @param {{ seconds?: number, out: string }} options */
export async function serveBench(options) {
  const seconds = options.seconds ?? 5;
  const cacheDir = mkdtempSync(join(tmpdir(), 'ondevice-bench-serve-'));
  const models = subjects(options.out);
  /** @type {Array<{ subject: string, c: number, floor: Row, minimal: Row, serve: Row, binary: Row }>} */
  const rows = [];
  const serve = await start([`${REPO}dist/cli.js`, 'serve', ...models.flatMap((m, i) => (i === 0 ? [m.manifest] : ['--model', m.manifest])), '--port', '0', '--cache-dir', cacheDir, '--update-interval', '0', '--variant', 'fp32', '--max-concurrent', '8']);
  // serve listens before its models have loaded: wait for ready, or the first rows would count 404s.
  while ((await fetch(`${serve.url}/v2/health/ready`)).status !== 200) await new Promise((r) => setTimeout(r, 50));
  try {
    for (const s of models) {
      const body = JSON.stringify({ inputs: [{ name: s.input, shape: s.dims, datatype: 'FP32', data: Array.from(s.data) }] });
      // The same request with the binary tensor data extension, outputs as bytes too (tritonclient's default).
      const header = Buffer.from(JSON.stringify({ inputs: [{ name: s.input, shape: s.dims, datatype: 'FP32', parameters: { binary_data_size: s.data.byteLength } }], parameters: { binary_data_output: true } }));
      const binaryBody = Buffer.concat([header, Buffer.from(s.data.buffer, s.data.byteOffset, s.data.byteLength)]);
      const binaryHeaders = { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) };
      const minimal = await start([`${REPO}bench/serve-minimal.mjs`, fp32File(s.manifest), s.input, JSON.stringify(s.dims)]);
      try {
        const url = `${serve.url}/v2/models/${s.name}/infer`;
        await cannon(url, body, 8, 1); // warm-up
        await cannon(minimal.url, body, 8, 1);
        for (const c of [1, 8]) {
          rows.push({ subject: s.label, c, floor: await floor(s, c, seconds), minimal: await cannon(minimal.url, body, c, seconds), serve: await cannon(url, body, c, seconds), binary: await cannon(url, binaryBody, c, seconds, binaryHeaders) });
        }
      } finally {
        await minimal.stop();
      }
    }
  } finally {
    await serve.stop();
    rmSync(cacheDir, { recursive: true, force: true });
  }
  return rows;
}

/** @param {Awaited<ReturnType<typeof serveBench>>} rows */
export function printServe(rows) {
  console.log('ondevice serve: POST /v2/models/<name>/infer under autocannon, beside onnxruntime-node called in-process (the floor) and the smallest HTTP server around it');
  console.log("goal: ≥ 70 % of the floor's throughput at concurrency 8. Throughput: autocannon; latency: a keep-alive node:http client, per request (the floor: per call)");
  const fmt = (/** @type {Row} */ r) => `${r.rps.toFixed(0).padStart(6)}/s p50 ${r.p50.toFixed(3)} p99 ${r.p99.toFixed(3)} ms${r.errors ? ` (${r.errors} errors)` : ''}`;
  let subject = '';
  for (const r of rows) {
    if (r.subject !== subject) console.log(`  ${(subject = r.subject)}`);
    console.log(`    c=${r.c}  floor ${fmt(r.floor)} | minimal HTTP (JSON) ${fmt(r.minimal)}`);
    console.log(`          serve, JSON ${fmt(r.serve)} | ${(r.serve.rps / r.floor.rps).toFixed(2)}× floor, ${(r.serve.rps / r.minimal.rps).toFixed(2)}× minimal`);
    console.log(`          serve, binary tensors ${fmt(r.binary)} | ${(r.binary.rps / r.floor.rps).toFixed(2)}× floor`);
  }
  console.log('');
}

#!/usr/bin/env node
/**
 * @file `npm run bench`: builds the package, serves bench/ with Vite (the library from dist/, as users
 * get it) and the models from a real model server, opens the
 * page in headless Chromium (WebGPU on SwiftShader), and prints each suite side by side with its
 * baseline. `serve` runs in Node only (bench/serve.mjs). Options: --trace=<file> (V8's CPU profile of the page's threads), --suites=latency,tfjs,warm,memory,large,hash,stats,signing,decode,variants,reload,transformers,serve --backends=wasm,webgpu --tfjs-backends=webgpu,webgl,wasm,cpu
 * --warm-mb=100 --memory-mb=200 --large-mb=1024 --reps=5 --serve-seconds=5
 * --storage=auto (where transformersCache keeps bytes in the transformers suite: auto, opfs, indexeddb)
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { createServer } from 'vite';
import { CHROMIUM_ARGS, chromiumPath } from '../scripts/chromium-path.mjs';
import { writeSyntheticModel } from '../scripts/synthetic-model.mjs';
import { startModelServer } from '../test/support/model-server.mjs';
import { printServe, serveBench } from './serve.mjs';

const arg = (/** @type {string} */ name, /** @type {string} */ fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const backends = arg('backends', 'wasm,webgpu');
/** The big file of the transformers suite's delivery rows. */
const BIG_FILE = 64 * 1024 * 1024;
const suites = arg('suites', 'latency,tfjs,warm,memory,large,hash,stats,signing,decode,variants,reload,transformers,serve');
const tfjsBackends = arg('tfjs-backends', 'webgpu,webgl,wasm,cpu');
const memoryMb = Number(arg('memory-mb', '200'));
const largeMb = Number(arg('large-mb', '1024'));
const warmMb = Number(arg('warm-mb', '100'));
const reps = arg('reps', '5');
/** Suite decode's second baseline (bench/decode-worker.ts). */
const WORKER_BASELINE = 'onnxruntime-web, in a worker, the loop there';

// The model host: the digits release and a synthetic model generated here (never committed).
const hosted = fileURLToPath(new URL('./.out/models/', import.meta.url));
mkdirSync(hosted, { recursive: true });
cpSync(fileURLToPath(new URL('../models/digits/release', import.meta.url)), `${hosted}digits/release`, { recursive: true });
cpSync(fileURLToPath(new URL('../models/digits-tfjs/layers', import.meta.url)), `${hosted}digits-tfjs/layers`, { recursive: true });
if (suites.includes('warm')) {
  console.error(`[bench] writing ${warmMb} MB synthetic models (32 weight tensors; embedded, and as external data)…`);
  writeSyntheticModel(`${hosted}synthetic`, { mb: warmMb, tensors: 32 });
  writeSyntheticModel(`${hosted}synthetic-external`, { mb: warmMb, tensors: 32, external: true, name: 'synthetic-external' });
}
if (suites.includes('memory')) {
  console.error(`[bench] writing a ${memoryMb} MB synthetic model…`);
  writeSyntheticModel(`${hosted}memory`, { mb: memoryMb, name: 'memory', tensors: 32 });
  writeSyntheticModel(`${hosted}memory-external`, { mb: memoryMb, name: 'memory-external', tensors: 32, external: true });
}
if (suites.includes('large')) {
  console.error(`[bench] writing a ${largeMb} MB synthetic model…`);
  writeSyntheticModel(`${hosted}large`, { mb: largeMb, name: 'large', tensors: 32 });
}
// The library as users get it: the built package (one module per chunk), not src/ served module by
// module, which would put a dev server's hundred requests on ondevice's side of every fresh worker.
console.error('[bench] building the package…');
execFileSync('npm', ['run', 'build', '--silent'], { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'ignore', 'inherit'] });
if (suites.includes('decode')) {
  // The encoder–decoder example and the 2 MB-cache decoder, published with the CLI just built.
  const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
  const seq2seq = fileURLToPath(new URL('../models/seq2seq/', import.meta.url));
  for (const [from, to] of /** @type {const} */ ([['v1', 'reverse'], ['kv-bench', 'kv-bench']])) {
    rmSync(`${hosted}${to}`, { recursive: true, force: true });
    // kv-bench also as q4 (every MatMul 4-bit), to rank q4 against fp32 on each backend.
    const source = mkdtempSync(join(tmpdir(), 'ondevice-bench-src-'));
    cpSync(`${seq2seq}${from}`, source, { recursive: true });
    if (to === 'kv-bench') execFileSync('node', [cli, 'quantize', source, '--to', 'q4'], { stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('node', [cli, 'publish', source, `${hosted}${to}`, '--version', '1.0.0', '--name', to], { stdio: ['ignore', 'ignore', 'inherit'] });
    rmSync(source, { recursive: true, force: true });
  }
}
if (suites.includes('variants')) {
  // fp32, int8, q4 and q4f16 of the same models, each variant made by the CLI just built.
  const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
  cpSync(fileURLToPath(new URL('../models/digits-mlp/release', import.meta.url)), `${hosted}digits-mlp/release`, { recursive: true });
  const source = mkdtempSync(join(tmpdir(), 'ondevice-bench-chain-'));
  const chain = writeSyntheticModel(source, { mb: 16, tensors: 8, name: 'matmul-chain' });
  cpSync(join(source, chain.variants.fp32.files[0].path), join(source, 'fp32.onnx'));
  rmSync(join(source, chain.variants.fp32.files[0].path));
  rmSync(join(source, 'manifest.json'));
  for (const to of ['int8', 'q4', 'q4f16']) execFileSync('node', [cli, 'quantize', join(source, 'fp32.onnx'), '--to', to, '-o', join(source, `${to}.onnx`)], { stdio: ['ignore', 'ignore', 'inherit'] });
  rmSync(`${hosted}matmul-chain`, { recursive: true, force: true });
  execFileSync('node', [cli, 'publish', source, `${hosted}matmul-chain`, '--version', '1.0.0', '--name', 'matmul-chain'], { stdio: ['ignore', 'ignore', 'inherit'] });
  rmSync(source, { recursive: true, force: true });
}
if (suites.includes('transformers')) {
  // The tiny BERT as a release (ondevice) and as a hub mirror (transformers.js's own way), and
  // transformers.js's onnxruntime-web WASM build, all from the model host.
  const bert = fileURLToPath(new URL('../models/tiny-bert/v1', import.meta.url));
  rmSync(`${hosted}tiny-bert-release`, { recursive: true, force: true });
  execFileSync('node', [fileURLToPath(new URL('../dist/cli.js', import.meta.url)), 'publish', bert, `${hosted}tiny-bert-release`, '--version', '1.0.0', '--name', 'tiny-bert'], { stdio: ['ignore', 'ignore', 'inherit'] });
  cpSync(bert, `${hosted}tiny-bert-hub/acme/tiny-bert`, { recursive: true });
  // The same repo with a big file beside it (as weights are), for the file-delivery rows: made here, never committed.
  const big = mkdtempSync(join(tmpdir(), 'ondevice-bench-big-'));
  cpSync(bert, big, { recursive: true });
  writeFileSync(join(big, 'big.bin'), randomBytes(BIG_FILE));
  rmSync(`${hosted}tiny-bert-big`, { recursive: true, force: true });
  execFileSync('node', [fileURLToPath(new URL('../dist/cli.js', import.meta.url)), 'publish', big, `${hosted}tiny-bert-big`, '--version', '1.0.0', '--name', 'tiny-bert-big'], { stdio: ['ignore', 'ignore', 'inherit'] });
  cpSync(big, `${hosted}tiny-bert-hub/acme/tiny-bert-big`, { recursive: true });
  rmSync(big, { recursive: true, force: true });
  cpSync(bert, `${hosted}tiny-bert-hub/warmup/tiny-bert`, { recursive: true });
  const ort = fileURLToPath(new URL('../node_modules/@huggingface/transformers/node_modules/onnxruntime-web/dist/', import.meta.url));
  mkdirSync(`${hosted}ort`, { recursive: true });
  for (const ext of ['mjs', 'wasm']) cpSync(`${ort}ort-wasm-simd-threaded.asyncify.${ext}`, `${hosted}ort/ort-wasm-simd-threaded.asyncify.${ext}`);
}
if (suites.split(',').includes('serve')) {
  console.error('[bench] serve: ondevice serve vs onnxruntime-node in-process…');
  const rows = await serveBench({ seconds: Number(arg('serve-seconds', '5')), out: hosted });
  console.log('');
  printServe(rows);
}
const browserSuites = suites.split(',').filter((s) => s !== 'serve');
if (browserSuites.length === 0) process.exit(0);
const modelServer = await startModelServer({ root: hosted });
const warmUrls = [`${modelServer.url}/digits/release/manifest.json`, `${modelServer.url}/synthetic/manifest.json`, `${modelServer.url}/synthetic-external/manifest.json`];

const server = await createServer({
  configFile: false,
  root: fileURLToPath(new URL('.', import.meta.url)),
  resolve: { alias: [{ find: /^\.\.\/src\/index\.js$/, replacement: fileURLToPath(new URL('../dist/index.js', import.meta.url)) }] },
  publicDir: fileURLToPath(new URL('../models', import.meta.url)),
  // Bundled before the page opens: found later (suite transformers imports it on demand), Vite would reload the page mid-run.
  optimizeDeps: { include: ['@huggingface/transformers'] },
  server: { host: 'localhost', port: 0 },
  logLevel: 'warn',
});
await server.listen();
const url = server.resolvedUrls?.local[0];
// A persistent profile, as a user's browser has: an off-the-record context (browser.newPage()) keeps
// OPFS in memory, 2.7× slower here, and is not what a revisit reads from.
const profile = mkdtempSync(join(tmpdir(), 'ondevice-bench-'));
const browser = await chromium.launchPersistentContext(profile, { executablePath: chromiumPath() ?? 'chromium', args: CHROMIUM_ARGS });
try {
  const page = await browser.newPage();
  page.on('console', (m) => {
    if (m.text().startsWith('[bench]')) console.error(m.text());
  });
  const query = new URLSearchParams({ suites: browserSuites.join(','), backends, tfjsBackends, reps, storage: arg('storage', 'auto') });
  for (const u of warmUrls) query.append('warm', u);
  query.set('memory', `${modelServer.url}/memory/manifest.json`);
  query.set('memoryExternal', `${modelServer.url}/memory-external/manifest.json`);
  query.set('large', `${modelServer.url}/large/manifest.json`);
  query.set('modelServer', modelServer.url);
  // --trace=<file>: V8's sampling profile of every thread of the page (workers too), as Chrome trace events.
  const trace = arg('trace', '') ? await startTrace(page) : undefined;
  await page.goto(`${url}?${query}`);
  const sampler = sampleRenderers();
  await page.waitForFunction(() => window.benchResult !== undefined, undefined, { timeout: 900_000, polling: 500 });
  const samples = sampler.stop();
  if (trace) writeFileSync(arg('trace', ''), JSON.stringify(await trace()));
  const result = await page.evaluate(() => window.benchResult);
  if (!result || result.error) throw new Error(result?.error ?? 'no result');
  const agent = await page.evaluate(() => navigator.userAgent);
  console.log(`\nondevice bench — ${agent.match(/Chrome\/[\d.]+/)?.[0] ?? agent}, 1 WASM thread, headless, 2 cores\n`);
  if (result.latency) printLatency(result.latency);
  if (result.tfjs) printLatency(result.tfjs);
  if (result.warm) printWarm(result.warm);
  if (result.memory) printMemory(result.memory, samples);
  if (result.large) printMemory(result.large, samples);
  if (result.hash) printHash(result.hash);
  if (result.stats) printStatsCost(result.stats);
  if (result.signing) printSigning(result.signing);
  if (result.decode) printDecode(result.decode);
  if (result.variants) printVariants(result.variants);
  if (result.reload) printReload(result.reload);
  if (result.transformers) printTransformers(result.transformers);
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
  await server.close();
  await modelServer.close();
}

/**
 * Samples the resident memory of every renderer process of the browser every 20 ms (Linux /proc).
 * Dedicated workers live in their page's renderer process.
 */
function sampleRenderers() {
  /** @type {Array<{ t: number, rss: number }>} */
  const samples = [];
  const renderers = () => {
    try {
      const out = execFileSync('ps', ['-eo', 'pid,ppid,args', '--no-headers'], { encoding: 'utf8' });
      return out.split('\n').filter((l) => l.includes('--type=renderer')).map((l) => Number(l.trim().split(/\s+/)[0]));
    } catch {
      return [];
    }
  };
  let pids = renderers();
  let ticks = 0;
  const timer = setInterval(() => {
    if (ticks++ % 50 === 0) pids = renderers();
    let rss = 0;
    for (const pid of pids) {
      try {
        rss += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
      } catch {
        // the process ended
      }
    }
    samples.push({ t: Date.now(), rss });
  }, 20);
  return { stop: () => (clearInterval(timer), samples) };
}

/** @param {import('./memory.ts').MemoryMarks} marks @param {Array<{ t: number, rss: number }>} samples */
function printMemory(marks, samples) {
  const mb = (/** @type {number} */ b) => `${(b / 1024 / 1024).toFixed(0)} MB`;
  console.log(`peak memory of the renderer process (worker included; VmRSS every 20 ms, above the lowest of the 10 samples before each phase), ${mb(marks.bytes)} model with 32 weight tensors, WASM`);
  console.log('goals: until ready ≤ 1.1× ORT fetch → create (≤ 0.7× with external data); while caching ≤ 1.5× the model');
  /** @type {number | undefined} */
  let raw;
  for (const p of marks.phases) {
    const before = samples.filter((s) => s.t < p.start).slice(-10);
    const baseline = before.reduce((min, s) => Math.min(min, s.rss), Number.POSITIVE_INFINITY);
    const peak = (/** @type {number} */ to) => samples.filter((s) => s.t >= p.start && s.t <= to).reduce((max, s) => Math.max(max, s.rss), 0) - baseline;
    const total = peak(p.ready + 300);
    raw ??= total;
    const parts = [`${((p.ready - p.start) / 1000).toFixed(2)} s`, `+${mb(total)} = ${(total / marks.bytes).toFixed(2)}× the model`, `${(total / raw).toFixed(2)}× ORT fetch → create`];
    if (p.cached) parts.push(`while caching (until the first compile event) +${mb(peak(p.cached))} = ${(peak(p.cached) / marks.bytes).toFixed(2)}× the model`);
    console.log(`  ${p.name.padEnd(44)} ${parts.join(' · ')}`);
  }
  console.log('');
}

/** @param {import('./stats-cost.ts').StatsCostReport} r */
function printStatsCost(r) {
  console.log(`model.stats() collection per run() (two clock reads and a histogram record, median of 5 × ${r.calls.toLocaleString('en')} calls; goal < 10 µs):`);
  console.log(`  loop alone ${r.baselineUs.toFixed(3)} µs · with stats ${r.withStatsUs.toFixed(3)} µs · cost ${(r.withStatsUs - r.baselineUs).toFixed(3)} µs per run\n`);
}

/** @param {import('./signing.ts').SigningReport} r */
function printSigning(r) {
  console.log(`Signed manifests (publicKey), the digits release, WASM, median of ${r.reps} warm loads each (model cached, update 'never'; goal: the check well under 1 ms):`);
  console.log(`  the check alone (import the key, canonical JSON, ES256 verify): ${r.verifyMs.toFixed(3)} ms`);
  console.log(`  warm load unsigned ${r.warmUnsignedMs.toFixed(1)} ms · signed ${r.warmSignedMs.toFixed(1)} ms · ratio ${(r.warmSignedMs / r.warmUnsignedMs).toFixed(2)}×\n`);
}

/** @param {import('./hash.ts').HashReport} r */
function printHash(r) {
  const rate = (/** @type {number} */ ms) => `${(r.mb / (ms / 1000)).toFixed(0)} MB/s`;
  console.log(`SHA-256 of ${r.mb} MB in the worker-less page (median of ${r.reps}):`);
  console.log(`  hash-wasm, incremental (1 MiB updates): ${r.hashWasm.toFixed(0)} ms, ${rate(r.hashWasm)}  ← used while downloading`);
  console.log(`  WebCrypto, one shot (needs the whole file): ${r.webCrypto.toFixed(0)} ms, ${rate(r.webCrypto)}  ← used when a warm load's size + xxh64 check fails\n`);
}

/** @param {import('./warm.ts').WarmReport[]} reports */
function printWarm(reports) {
  const floor = reports.find((r) => r.tensors > 1 && !r.external)?.contenders['ORT from memory'];
  console.log(`warm load to first result, WASM, 1 thread, each contender in a fresh worker (ms, median of ${Object.values(reports[0]?.contenders ?? {})[0]?.count ?? 0} interleaved rounds)`);
  console.log('goals: ondevice ≤ 1.3× ORT from memory, ≤ 0.8× the Cache API path; with external data ≤ 1.0× ORT from memory of the embedded model');
  for (const r of reports) {
    const base = r.contenders['ORT from memory'];
    const peers = r.contenders['Cache API → ORT'];
    console.log(`  ${r.model}: ${(r.bytes / 1024 / 1024).toFixed(1)} MB, ${r.tensors} weight tensor${r.tensors > 1 ? 's' : ''}${r.external ? ', external data' : ''}`);
    for (const [name, s] of Object.entries(r.contenders)) {
      const ratios = [];
      if (base && name !== 'ORT from memory' && name !== 'raw OPFS read') ratios.push(`${(s.median / base.median).toFixed(2)}× ORT from memory`);
      if (peers && name.startsWith('ondevice')) ratios.push(`${(s.median / peers.median).toFixed(2)}× Cache API`);
      if (r.external && floor && name.startsWith('ondevice')) ratios.push(`${(s.median / floor.median).toFixed(2)}× ORT from memory, embedded twin`);
      if (name.includes('no prepack') && name.startsWith('ondevice')) {
        const same = r.contenders['ORT from memory, no prepack'];
        if (same) ratios.push(`${(s.median / same.median).toFixed(2)}× ORT from memory, no prepack`);
      }
      console.log(`    ${name.padEnd(30)} ${s.median.toFixed(1).padStart(8)}  ${ratios.join(' · ')}`);
      const inside = r.inWorker[name];
      if (inside) console.log(`    ${''.padEnd(30)} ${''.padStart(8)}  in its worker ${inside.ms.toFixed(1)}: ${Object.entries(inside.phases).map(([p, ms]) => `${p} ${ms.toFixed(1)}`).join(', ')}`);
    }
  }
  console.log('');
}

/** @param {import('./latency.ts').BackendReport[]} reports */
function printLatency(reports) {
  const ms = (/** @type {number} */ v) => v.toFixed(3).padStart(9);
  console.log(`run() on ${reports[0]?.model}\n`);
  for (const r of reports) {
    const b = r.latency[r.baseline];
    const t = r.throughput[r.baseline];
    if (!b || !t) throw new Error(`no baseline for ${r.backend}`);
    console.log(`${r.backend}: run() latency, batch 1 (ms per call; ${b.count} blocks of 20 sequential calls each, interleaved rounds; median and p95 of block means)`);
    console.log(`  ${'contender'.padEnd(30)} ${'median'.padStart(9)} ${'p95'.padStart(9)} ${'Δmedian'.padStart(9)} ${'ratio'.padStart(7)}`);
    for (const [name, s] of Object.entries(r.latency)) {
      console.log(`  ${name.padEnd(30)} ${ms(s.median)} ${ms(s.p95)} ${ms(s.median - b.median)} ${(s.median / b.median).toFixed(2).padStart(6)}×`);
    }
    console.log(`${r.backend}: throughput, batch ${r.batch} (ms per batch; ${t.count} batches each)`);
    for (const [name, s] of Object.entries(r.throughput)) {
      console.log(`  ${name.padEnd(30)} ${ms(s.median)} ${ms(s.p95)} ${ms(s.median - t.median)} ${(s.median / t.median).toFixed(2).padStart(6)}×`);
    }
    console.log('');
  }
  console.log(`Δmedian and ratio are against ${reports[0]?.baseline} (called directly). Goal: worker overhead ≤ 0.3 ms a call.\n`);
}

/** @param {import('./transformers.ts').TransformersReport} r */
function printTransformers(r) {
  console.log(`transformers.js feature-extraction, ${r.model}: ms to the first embedding (pipeline made, one sentence embedded; lower is better)`);
  console.log(`goal: warm ≤ 1.0× ${r.baseline}`);
  const base = r.warm[r.baseline];
  for (const [name, s] of Object.entries(r.warm)) {
    const cold = r.cold[name];
    const coldText = cold === undefined ? ''.padEnd(24) : `cold median of 3 ${cold.toFixed(1).padStart(7)} ms (${(cold / (r.cold[r.baseline] ?? NaN)).toFixed(2)}×)`;
    console.log(`  ${name.padEnd(36)} ${coldText} · warm median of ${s.count} ${s.median.toFixed(1).padStart(7)} ms (${base ? (s.median / base.median).toFixed(2) : '?'}×), p95 ${s.p95.toFixed(1)} ms`);
  }
  console.log(`the warm start's files alone (${r.files.names.join(', ')}): a new cache object, match + arrayBuffer each (lower is better)`);
  const filesBase = r.files.ms[r.baseline];
  for (const [name, s] of Object.entries(r.files.ms)) {
    console.log(`  ${name.padEnd(36)} median ${s.median.toFixed(2).padStart(7)} ms (${filesBase ? (s.median / filesBase.median).toFixed(2) : '?'}×), p95 ${s.p95.toFixed(2)} ms`);
  }
  console.log(`reading one cached ${r.file.size} file (match + arrayBuffer, warm, one cache object; lower is better)`);
  const fileBase = r.file.ms[r.baseline];
  for (const [name, s] of Object.entries(r.file.ms)) {
    console.log(`  ${name.padEnd(36)} median ${s.median.toFixed(1).padStart(7)} ms (${fileBase ? (s.median / fileBase.median).toFixed(2) : '?'}×), p95 ${s.p95.toFixed(1)} ms`);
  }
}

/** @param {import('./reload.ts').ReloadReport[]} reports */
function printReload(reports) {
  console.log('WebGPU, a model disposed and loaded again: ms from the load to its first result (median of the reloads; lower is better), vs onnxruntime-web after a release');
  for (const r of reports) {
    console.log(`  ${r.model}`);
    const base = r.contenders[r.baseline];
    for (const [name, s] of Object.entries(r.contenders)) {
      console.log(`    ${name.padEnd(34)} median ${s.median.toFixed(1).padStart(8)} ms (${base ? (s.median / base.median).toFixed(3) : '?'}×), p95 ${s.p95.toFixed(1)} ms; first load ${r.first[name]?.toFixed(0)} ms`);
    }
  }
}

/** @param {import('./variants.ts').VariantsReport[]} reports */
function printVariants(reports) {
  console.log('variants of one model: run() ms (median of 5 interleaved rounds; lower is better), each vs fp32 on the same backend');
  for (const r of reports) {
    console.log(`  ${r.model}, ${r.backend}`);
    const base = r.rows.find((/** @type {{ variant: string }} */ row) => row.variant === 'fp32');
    for (const row of r.rows) {
      const size = row.bytes && base?.bytes ? `${String(row.bytes).padStart(9)} B (${((row.bytes / base.bytes) * 100).toFixed(0).padStart(3)}%)` : ''.padEnd(17);
      if (!row.ms) {
        console.log(`    ${row.variant.padEnd(6)} ${size}  not run: ${row.refused}`);
        continue;
      }
      const cells = Object.entries(row.ms).map(([batch, s]) => {
        const fp32 = base?.ms?.[Number(batch)];
        return `batch ${batch}: ${s.median.toFixed(3).padStart(8)} ms${fp32 ? ` (${(s.median / fp32.median).toFixed(2)}× fp32)` : ''}`;
      });
      console.log(`    ${row.variant.padEnd(6)} ${size}  ${cells.join(' · ')}`);
    }
  }
}

/**
 * Starts Chrome's tracing with V8's CPU profiler; the function returned stops it and gives the events.
 * @param {import('playwright-core').Page} page
 */
async function startTrace(page) {
  const cdp = await page.context().newCDPSession(page);
  /** @type {unknown[]} */
  const events = [];
  cdp.on('Tracing.dataCollected', (e) => events.push(...e.value));
  const complete = new Promise((resolve) => cdp.on('Tracing.tracingComplete', resolve));
  await cdp.send('Tracing.start', { categories: 'disabled-by-default-v8.cpu_profiler', transferMode: 'ReportEvents' });
  return async () => {
    await cdp.send('Tracing.end');
    await complete;
    return events;
  };
}

/** @param {import('./decode.ts').DecodeReport[]} reports */
function printDecode(reports) {
  console.log('decode loop, the key/value cache fed back at every step: tokens per second (median of interleaved rounds: 7 for reverse, 3 for kv-bench; higher is better; in brackets the slowest and fastest round)');
  console.log("goals: ondevice keeping the cache ≥ 0.95× onnxruntime-web on the main thread (WASM); on WebGPU ≥ 1.0× ORT with outputs to the CPU and ≥ 0.95× ORT with 'gpu-buffer'");
  console.log('  (generate(): the whole sequence, encoder included, in one call where the model runs; keep: one run() a step from the page, the cache kept as refs)');
  if (reports.some((r) => r.rates[WORKER_BASELINE])) console.log(`  ("${WORKER_BASELINE}": onnxruntime-web alone in a worker, one message a sequence: what any worker pays here)`);
  for (const r of reports) {
    const gpu = r.rates["onnxruntime-web, main thread, 'gpu-buffer'"];
    console.log(`  ${r.model} (${r.steps} steps a sequence), ${r.backend}`);
    for (const [name, s] of Object.entries(r.rates)) {
      const base = /** @type {import('./stats.ts').Stats} */ (r.rates[r.baseline]);
      const ratios = [`${(s.median / base.median).toFixed(2)}× ${r.baseline}`];
      if (gpu && name.startsWith('ondevice')) ratios.push(`${(s.median / gpu.median).toFixed(2)}× 'gpu-buffer'`);
      const inWorker = r.rates[WORKER_BASELINE];
      if (inWorker && name.startsWith('ondevice, worker')) ratios.push(`${(s.median / inWorker.median).toFixed(2)}× ${WORKER_BASELINE}`);
      const fp32 = r.rates['ondevice, worker, keep'];
      if (name.endsWith(', q4') && fp32) ratios.push(`${(s.median / fp32.median).toFixed(2)}× fp32 with keep`);
      const range = `[${s.min.toFixed(0)}–${s.max.toFixed(0)}]`;
      console.log(`    ${name.padEnd(50)} ${s.median.toFixed(0).padStart(6)} tokens/s ${range.padEnd(13)} · ${ratios.join(' · ')}`);
    }
    const worker = r.rates['ondevice, worker, keep'];
    const here = r.rates['ondevice, in-thread, keep'];
    if (r.hop && worker && here) {
      // keep makes one call a step (the encoder's call shared among the steps): the worker's extra time a step is what one of ondevice's calls costs to cross.
      const crossing = (1 / worker.median - 1 / here.median) * 1e6 * (r.steps / (r.steps + 1));
      console.log(`    a worker round trip: ${r.hop.raw.toFixed(0)} µs as a bare postMessage, ${r.hop.comlink.toFixed(0)} µs through comlink; one of ondevice's calls with keep: ${crossing.toFixed(0)} µs more in the worker than in the thread`);
    }
  }
  console.log('');
}

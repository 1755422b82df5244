#!/usr/bin/env node
/**
 * @file `npm run bench`: serves bench/ with Vite and the models from a real model server, opens the
 * page in headless Chromium (WebGPU on SwiftShader), and prints each suite side by side with its
 * baseline. Options: --suites=latency,warm --backends=wasm,webgpu --warm-mb=100 --reps=5
 */
import { cpSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { createServer } from 'vite';
import { CHROMIUM_ARGS, chromiumPath } from '../scripts/chromium-path.mjs';
import { writeSyntheticModel } from '../scripts/synthetic-model.mjs';
import { startModelServer } from '../test/support/model-server.mjs';

const arg = (/** @type {string} */ name, /** @type {string} */ fallback) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const backends = arg('backends', 'wasm,webgpu');
const suites = arg('suites', 'latency,warm');
const warmMb = Number(arg('warm-mb', '100'));
const reps = arg('reps', '5');

// The model host: the digits release and a synthetic model generated here (never committed).
const hosted = fileURLToPath(new URL('./.out/models/', import.meta.url));
mkdirSync(hosted, { recursive: true });
cpSync(fileURLToPath(new URL('../models/digits/release', import.meta.url)), `${hosted}digits/release`, { recursive: true });
if (suites.includes('warm')) {
  console.error(`[bench] writing a ${warmMb} MB synthetic model…`);
  writeSyntheticModel(`${hosted}synthetic`, { mb: warmMb });
}
const modelServer = await startModelServer({ root: hosted });
const warmUrls = [`${modelServer.url}/digits/release/manifest.json`, `${modelServer.url}/synthetic/manifest.json`];

const server = await createServer({
  configFile: false,
  root: fileURLToPath(new URL('.', import.meta.url)),
  publicDir: fileURLToPath(new URL('../models', import.meta.url)),
  server: { host: 'localhost', port: 0 },
  logLevel: 'warn',
});
await server.listen();
const url = server.resolvedUrls?.local[0];
const browser = await chromium.launch({ executablePath: chromiumPath() ?? 'chromium', args: CHROMIUM_ARGS });
try {
  const page = await browser.newPage();
  page.on('console', (m) => {
    if (m.text().startsWith('[bench]')) console.error(m.text());
  });
  const query = new URLSearchParams({ suites, backends, reps });
  for (const u of warmUrls) query.append('warm', u);
  await page.goto(`${url}?${query}`);
  await page.waitForFunction(() => window.benchResult !== undefined, undefined, { timeout: 900_000, polling: 500 });
  const result = await page.evaluate(() => window.benchResult);
  if (!result || result.error) throw new Error(result?.error ?? 'no result');
  const agent = await page.evaluate(() => navigator.userAgent);
  console.log(`\nondevice bench — ${agent.match(/Chrome\/[\d.]+/)?.[0] ?? agent}, 1 WASM thread, headless, 2 cores\n`);
  if (result.latency) printLatency(result.latency);
  if (result.warm) printWarm(result.warm);
} finally {
  await browser.close();
  await server.close();
  await modelServer.close();
}

/** @param {import('./warm.ts').WarmReport[]} reports */
function printWarm(reports) {
  console.log(`warm load to first result, WASM (ms, median of ${reports[0]?.direct.count ?? 0} interleaved rounds; goal ≤ 1.15×)`);
  console.log(`  ${'model'.padEnd(22)} ${'ORT from memory'.padStart(16)} ${'ondevice from IDB'.padStart(18)} ${'ratio'.padStart(7)} ${'raw IDB read'.padStart(13)} ${'IDB MB/s'.padStart(9)}`);
  for (const r of reports) {
    const mb = r.bytes / 1024 / 1024;
    console.log(
      `  ${`${r.model} (${mb.toFixed(1)} MB)`.padEnd(22)} ${r.direct.median.toFixed(1).padStart(16)} ${r.ondevice.median.toFixed(1).padStart(18)} ${(r.ondevice.median / r.direct.median).toFixed(2).padStart(6)}× ${r.idbRead.median.toFixed(1).padStart(13)} ${(mb / (r.idbRead.median / 1000)).toFixed(0).padStart(9)}`,
    );
  }
  console.log('');
}

/** @param {import('./latency.ts').BackendReport[]} reports */
function printLatency(reports) {
  const base = 'onnxruntime-web, main thread';
  const ms = (/** @type {number} */ v) => v.toFixed(3).padStart(9);
  console.log('run() on the digits CNN (fp32, 155 kB)\n');
  for (const r of reports) {
    const b = r.latency[base];
    const t = r.throughput[base];
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
  console.log('Δmedian and ratio are against onnxruntime-web called directly on the main thread. Goal: worker overhead ≤ 0.3 ms a call.\n');
}

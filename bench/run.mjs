#!/usr/bin/env node
/**
 * @file `npm run bench`: serves bench/ with Vite, opens it in headless Chromium (WebGPU on
 * SwiftShader), and prints ondevice against onnxruntime-web on the main thread, side by side.
 * Options: --backends=wasm,webgpu
 */
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { createServer } from 'vite';
import { CHROMIUM_ARGS, chromiumPath } from '../scripts/chromium-path.mjs';

const backends = process.argv.find((a) => a.startsWith('--backends='))?.split('=')[1] ?? 'wasm,webgpu';

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
  await page.goto(`${url}?backends=${backends}`);
  await page.waitForFunction(() => window.benchResult !== undefined, undefined, { timeout: 900_000, polling: 500 });
  const result = await page.evaluate(() => window.benchResult);
  if (!result?.reports) throw new Error(result?.error ?? 'no result');
  print(result.reports, await page.evaluate(() => navigator.userAgent));
} finally {
  await browser.close();
  await server.close();
}

/** @param {import('./main.ts').BackendReport[]} reports @param {string} agent */
function print(reports, agent) {
  const base = 'onnxruntime-web, main thread';
  const ms = (/** @type {number} */ v) => v.toFixed(3).padStart(9);
  console.log(`\nondevice bench — digits CNN (fp32, 155 kB), ${agent.match(/Chrome\/[\d.]+/)?.[0] ?? agent}, 1 WASM thread\n`);
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
  console.log('Δmedian and ratio are against onnxruntime-web called directly on the main thread. Goal: worker overhead ≤ 0.3 ms a call.');
}

/**
 * @file The transformers.js example page (examples/embed.html) as a person uses it, in Chromium: the
 * page embeds two sentences with transformers.js, its files from the example's release; the
 * publisher publishes 2.0.0 (new weights and vocabulary), a reload starts on the cached 1.0.0 and
 * offers 2.0.0, the next reload runs it. Each similarity must be what transformers.js's Node build
 * computes reading that version's folder itself. The screenshot is kept in test-results/embed.png.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { env, pipeline } from '@huggingface/transformers';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createServer, type ViteDevServer } from 'vite';
import { CHROMIUM_ARGS, chromiumPath } from '../../scripts/chromium-path.mjs';
import { TINY_BERT } from '../support/tiny-bert.mjs';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SENTENCES = ['Hello world, the model runs on device.', 'Private data never leaves the browser offline!'];
let demo: ViteDevServer;
let browser: Browser;
const expected: Record<string, number> = {};

beforeAll(async () => {
  demo = await createServer({ configFile: `${REPO}examples/vite.config.ts`, logLevel: 'error', server: { port: 0 } });
  await demo.listen();
  browser = await chromium.launch({ executablePath: chromiumPath() ?? 'chromium', args: CHROMIUM_ARGS });
  // transformers.js in Node reading each version's folder from disk: the page's numbers, to 1e-3.
  env.localModelPath = TINY_BERT;
  env.allowRemoteModels = false;
  env.useFSCache = false;
  for (const version of ['v1', 'v2']) {
    const extractor = await pipeline('feature-extraction', version, { dtype: 'q8' });
    const [a, b] = (await extractor(SENTENCES, { pooling: 'mean', normalize: true })).tolist() as number[][];
    expected[version] = a!.reduce((sum, v, i) => sum + v * b![i]!, 0);
    await extractor.dispose();
  }
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await demo?.close();
});

async function ready(page: Page): Promise<{ similarity: number; release: string }> {
  await page.waitForFunction(() => /^(ready|error)/.test(document.querySelector('#phase')?.textContent ?? ''), undefined, { timeout: 60_000 });
  expect(await page.locator('#phase').textContent()).toBe('ready');
  return { similarity: Number(await page.locator('#similarity').textContent()), release: (await page.locator('#release').textContent()) ?? '' };
}

test('embed two sentences; publish 2.0.0, reload (1.0.0 starts, 2.0.0 is offered), reload: the similarity is transformers.js\'s own for each version', async () => {
  const at = demo.resolvedUrls!.local[0]!;
  await fetch(`${at}tiny-bert-host/reset`, { method: 'POST' });
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  const page = await context.newPage();
  const requested: string[] = [];
  page.on('request', (r) => requested.push(r.url()));
  await page.goto(`${at}embed.html`);
  let state = await ready(page);
  expect(state.release).toContain('version1.0.0');
  expect(state.similarity).toBeCloseTo(expected['v1']!, 3);

  await page.click('#publish');
  await page.reload();
  state = await ready(page);
  expect(state.release).toContain('version1.0.0');
  await page.waitForSelector('#update:not([hidden])', { timeout: 60_000 });
  expect(await page.locator('#update-text').textContent()).toBe('Version 2.0.0 is ready.');
  await page.click('#reload');
  state = await ready(page);
  expect(state.release).toContain('version2.0.0');
  expect(state.similarity).toBeCloseTo(expected['v2']!, 3);
  expect(expected['v2']).not.toBeCloseTo(expected['v1']!, 3);
  // Only the page's own origin (its blob: URLs included): no hub, no CDN.
  expect(requested.filter((u) => new URL(u).origin !== new URL(at).origin)).toEqual([]);
  mkdirSync(`${REPO}test-results`, { recursive: true });
  await page.screenshot({ path: `${REPO}test-results/embed.png`, fullPage: true });
  await context.close();
});

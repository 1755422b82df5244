/**
 * @file The demo as a person uses it, in Chromium: draw a digit with the mouse, read the prediction
 * and the panels, publish a newer version on the host, press "Check for update", switch to it. The
 * screenshot is kept in test-results/demo.png.
 */
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createServer, type ViteDevServer } from 'vite';
import { CHROMIUM_ARGS, chromiumPath } from '../../scripts/chromium-path.mjs';
import { startModelServer } from '../support/model-server.mjs';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
let models: Awaited<ReturnType<typeof startModelServer>>;
let demo: ViteDevServer;
let browser: Browser;

beforeAll(async () => {
  models = await startModelServer();
  demo = await createServer({ configFile: `${REPO}examples/vite.config.ts`, logLevel: 'error', server: { port: 0 } });
  await demo.listen();
  browser = await chromium.launch({ executablePath: chromiumPath() ?? 'chromium', args: CHROMIUM_ARGS });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await demo?.close();
  await models?.close();
});

async function publish(id: string, release: 'release' | 'next'): Promise<void> {
  const manifest = readFileSync(`${REPO}models/digits/${release}/manifest.json`, 'utf8');
  await fetch(`${models.url}/__live/${id}/manifest.json`, { method: 'PUT', body: manifest });
}

test('draw a digit, see it predicted and what runs; publish 1.1.0, check, switch', async () => {
  const id = `demo${Date.now().toString(36)}`;
  await publish(id, 'release');
  const page = await browser.newPage({ viewport: { width: 900, height: 1100 } });
  const at = demo.resolvedUrls!.local[0]!;
  await page.goto(`${at}?manifest=${encodeURIComponent(`${models.url}/live/${id}/manifest.json`)}`);
  await page.waitForFunction(() => document.querySelector('#phase')?.textContent === 'ready — draw a digit', undefined, { timeout: 60_000 });
  await page.waitForFunction(() => /1\.0\.0/.test(document.querySelector('#model-info')?.textContent ?? ''));

  // A "1": one stroke down the middle of the pad.
  const pad = (await page.locator('#pad').boundingBox())!;
  await page.mouse.move(pad.x + pad.width / 2, pad.y + 40);
  await page.mouse.down();
  await page.mouse.move(pad.x + pad.width / 2, pad.y + pad.height - 40, { steps: 20 });
  await page.mouse.up();
  // Predictions run while the stroke is drawn (a half stroke may look like a 4); the last one, after
  // the pointer is up, sees the whole stroke.
  await page.waitForFunction(() => document.querySelector('#digit')?.textContent === '1', undefined, { timeout: 15_000 });
  await page.waitForFunction(() => /^\d+$/.test(document.querySelector('#stats dd')?.textContent ?? '') && Number(document.querySelector('#stats dd')?.textContent) > 0);
  expect(await page.locator('#privacy').textContent()).toMatch(/^0 requests left the page while the model ran/);
  const info = await page.locator('#model-info').textContent();
  expect(info).toMatch(/downloaded, verified, cached/);
  expect(info).toMatch(/load\d+ ms/);

  await publish(id, 'next');
  await page.click('#check');
  await page.waitForSelector('#update-banner:not([hidden])', { timeout: 30_000 });
  expect(await page.locator('#update-text').textContent()).toBe('Version 1.1.0 is ready.');
  await page.click('#switch');
  await page.waitForFunction(() => /1\.1\.0/.test(document.querySelector('#model-info')?.textContent ?? ''));
  await page.waitForFunction(() => document.querySelector('#digit')?.textContent !== '?');

  mkdirSync(`${REPO}test-results`, { recursive: true });
  await page.screenshot({ path: `${REPO}test-results/demo.png`, fullPage: true });
  expect(statSync(`${REPO}test-results/demo.png`).size).toBeGreaterThan(10_000);
  await page.close();
});

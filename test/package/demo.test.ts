/**
 * @file The demo as a person uses it, in Chromium: draw a digit with the mouse, read the prediction
 * and the panels; then, with the page's publisher panel (the demo's own host), publish a newer
 * version, check, switch, revoke it, take the host offline and reload, and go offline. Each state is
 * read off the page. The screenshot is kept in test-results/demo.png.
 */
import { mkdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createServer, type ViteDevServer } from 'vite';
import { CHROMIUM_ARGS, chromiumPath } from '../../scripts/chromium-path.mjs';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
let demo: ViteDevServer;
let browser: Browser;

beforeAll(async () => {
  demo = await createServer({ configFile: `${REPO}examples/vite.config.ts`, logLevel: 'error', server: { port: 0 } });
  await demo.listen();
  browser = await chromium.launch({ executablePath: chromiumPath() ?? 'chromium', args: CHROMIUM_ARGS });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await demo?.close();
});

/** The demo host's publisher, as the page's panel drives it. */
const host = async (action: string) => fetch(`${demo.resolvedUrls!.local[0]!}host/${action}`, { method: 'POST' });
const text = (page: Page, selector: string) => page.locator(selector).textContent();

test('draw a digit and see what runs; as the publisher, publish 1.1.0, revoke it, take the host offline: every state on screen agrees', async () => {
  await host('reset');
  const context = await browser.newContext({ viewport: { width: 1000, height: 1300 } });
  const page = await context.newPage();
  const at = demo.resolvedUrls!.local[0]!;
  await page.goto(at);
  await page.waitForFunction(() => document.querySelector('#phase')?.textContent === 'ready — draw a digit', undefined, { timeout: 60_000 });
  expect(await text(page, '#model-info')).toMatch(/digits 1\.0\.0 \(onnx\)/);
  expect(await text(page, '#model-info')).toMatch(/downloaded, verified, cached/);
  expect(await text(page, '#host-state')).toBe('The host serves 1.0.0; revoked: none.');
  // Backends are offered per runtime: no WebGL or CPU for ONNX.
  expect(await page.locator('#backend option').allTextContents()).toEqual(['auto', 'fastest', 'webgpu', 'wasm']);
  // The real model was warmed during the load: one run counted before any stroke.
  expect(await page.locator('#stats dd').first().textContent()).toBe('1');

  // A "1": one stroke down the middle of the pad.
  const pad = (await page.locator('#pad').boundingBox())!;
  await page.mouse.move(pad.x + pad.width / 2, pad.y + 40);
  await page.mouse.down();
  await page.mouse.move(pad.x + pad.width / 2, pad.y + pad.height - 40, { steps: 20 });
  await page.mouse.up();
  await page.waitForFunction(() => document.querySelector('#digit')?.textContent === '1', undefined, { timeout: 15_000 });
  expect(await text(page, '#privacy')).toMatch(/^0 requests left the page while the model ran/);

  // The publisher ships 1.1.0; the device hears of it when it asks.
  await page.click('#publish');
  await page.waitForFunction(() => /serves 1\.1\.0/.test(document.querySelector('#host-state')?.textContent ?? ''));
  await page.click('#check');
  await page.waitForSelector('#update-banner:not([hidden])', { timeout: 30_000 });
  expect(await text(page, '#update-text')).toBe('Version 1.1.0 is ready.');
  expect(await page.locator('#switch').isVisible()).toBe(true);
  await page.waitForFunction(() => document.querySelector('#check-result')?.textContent === 'version 1.1.0 downloaded and verified');
  await page.click('#switch');
  await page.waitForFunction(() => /1\.1\.0/.test(document.querySelector('#model-info')?.textContent ?? ''));
  expect(await page.locator('#update-banner').isHidden()).toBe(true);

  // The host goes offline; a reload starts from this device's cache.
  await page.click('#host-down');
  await page.waitForFunction(() => /offline/.test(document.querySelector('#host-state')?.textContent ?? ''));
  await page.reload();
  await page.waitForFunction(() => document.querySelector('#phase')?.textContent === 'ready — draw a digit', undefined, { timeout: 60_000 });
  expect(await text(page, '#model-info')).toMatch(/digits 1\.1\.0/);
  expect(await text(page, '#model-info')).toMatch(/from this device’s cache/);

  // Back online, the publisher withdraws 1.1.0: the device is told when it asks. It kept 1.0.0 only
  // until 1.1.0 had started (docs/decisions.md), so it has nothing else to run, and says so.
  await page.click('#host-down');
  await page.waitForFunction(() => /serves 1\.1\.0/.test(document.querySelector('#host-state')?.textContent ?? ''));
  await page.click('#revoke');
  await page.waitForFunction(() => /revoked: 1\.1\.0/.test(document.querySelector('#host-state')?.textContent ?? ''));
  await page.click('#check');
  await page.waitForSelector('#update-banner:not([hidden])', { timeout: 30_000 });
  expect(await text(page, '#update-text')).toBe('Version 1.1.0 was withdrawn by its publisher, and this device has no other version to run: reload to see.');
  // Never "up to date" beside a withdrawal, and no Switch with nothing to switch to.
  expect(await page.locator('#switch').isVisible()).toBe(false);
  await page.waitForFunction(() => document.querySelector('#check-result')?.textContent !== 'asking the host…');
  expect(await text(page, '#check-result')).toBe('this version was withdrawn, and there is no other to run');
  mkdirSync(`${REPO}test-results`, { recursive: true });
  await page.screenshot({ path: `${REPO}test-results/demo.png`, fullPage: true });
  expect(statSync(`${REPO}test-results/demo.png`).size).toBeGreaterThan(10_000);
  // The kill switch holds: a reload does not run it.
  await page.reload();
  await page.waitForFunction(() => /^could not load/.test(document.querySelector('#phase')?.textContent ?? ''), undefined, { timeout: 60_000 });
  expect(await text(page, '#phase')).toMatch(/VERSION_UNAVAILABLE|revoked|withdrawn/i);
  expect(await text(page, '#model-info')).toBe('modelnothing loaded');

  // The browser itself goes offline, and the TF.js model was never cached: the error says offline,
  // and the ONNX model's panels are gone with it.
  // The phase already reads "could not load" (the revocation), so wait for a different one: waiting
  // for the prefix alone matched at once, and a busy machine then read the new load's "manifest…".
  await context.setOffline(true);
  const before = (await text(page, '#phase')) ?? '';
  await page.selectOption('#model', 'tfjs');
  await page.waitForFunction(
    (previous) => {
      const phase = document.querySelector('#phase')?.textContent ?? '';
      return phase !== previous && /^could not load/.test(phase);
    },
    before,
    { timeout: 60_000 },
  );
  expect(await text(page, '#phase')).toBe('could not load: this device is offline and has no copy of this model yet. It loads once the device is back online.');
  expect(await text(page, '#model-info')).toBe('modelnothing loaded');
  expect(await page.locator('#backend option').allTextContents()).toEqual(['auto', 'fastest', 'webgpu', 'webgl', 'wasm', 'cpu']);
  await context.setOffline(false);
  await context.close();
  await host('reset');
});

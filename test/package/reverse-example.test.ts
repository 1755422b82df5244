/**
 * @file The encoder–decoder example page (examples/reverse.html) as a person uses it, in Chromium:
 * type a word and read its reverse as the page streams it; as the publisher, publish 2.0.0 (new
 * weights and tokenizer), check, switch. Each decoded word must be onnxruntime-node's greedy output on
 * the same files, spelled with that version's own tokenizer. The screenshot is kept in
 * test-results/reverse.png.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createServer, type ViteDevServer } from 'vite';
import { CHROMIUM_ARGS, chromiumPath } from '../../scripts/chromium-path.mjs';
import { referenceDecodes, SEQ2SEQ, WORDS } from '../support/seq2seq.mjs';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
let demo: ViteDevServer;
let browser: Browser;
const expected: Record<'1.0.0' | '2.0.0', Record<string, string>> = { '1.0.0': {}, '2.0.0': {} };

beforeAll(async () => {
  demo = await createServer({ configFile: `${REPO}examples/vite.config.ts`, logLevel: 'error', server: { port: 0 } });
  await demo.listen();
  browser = await chromium.launch({ executablePath: chromiumPath() ?? 'chromium', args: CHROMIUM_ARGS });
  for (const [version, dir] of [['1.0.0', 'v1'], ['2.0.0', 'v2']] as const) {
    const { vocab } = JSON.parse(readFileSync(`${SEQ2SEQ}${dir}/tokenizer.json`, 'utf8')) as { vocab: Record<string, number> };
    const letters = Object.fromEntries(Object.entries(vocab).map(([k, v]) => [v, k]));
    const tokens = await referenceDecodes(dir);
    for (const word of WORDS) expected[version][word] = tokens[word]!.map((t) => letters[t] ?? '?').join('');
  }
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await demo?.close();
});

const text = (page: Page, selector: string) => page.locator(selector).textContent();

async function reverse(page: Page, word: string): Promise<string | null> {
  await page.fill('#word', word);
  await page.waitForFunction((w) => document.querySelector('#phase')?.textContent === `ready — reversed "${w}"`, word, { timeout: 60_000 }).catch(async (error: unknown) => {
    throw new Error(`the page did not reverse "${word}": it says "${await text(page, '#phase')}"`, { cause: error });
  });
  return text(page, '#output');
}

test('type a word, read its reverse; publish 2.0.0, check, switch: the page decodes as onnxruntime-node with each version\'s own tokenizer', async () => {
  const at = demo.resolvedUrls!.local[0]!;
  await fetch(`${at}reverse-host/reset`, { method: 'POST' });
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${at}reverse.html`);
  await page.waitForFunction(() => document.querySelector('#phase')?.textContent?.startsWith('ready'), undefined, { timeout: 60_000 });
  const release = await text(page, '#release');
  expect(release).toContain('reverse 1.0.0');
  expect(release).toContain('encoder_model, decoder_model, decoder_with_past_model');
  expect(release).toContain('config.json, generation_config.json, tokenizer.json');
  expect(release).toContain('version 1.0.0');
  for (const word of WORDS.slice(0, 3)) expect(await reverse(page, word)).toBe(expected['1.0.0'][word]);
  expect(await text(page, '#decoding')).toContain('kept in the worker');

  await page.click('#publish');
  await page.click('#check');
  await page.waitForSelector('#update:not([hidden])', { timeout: 60_000 });
  expect(await text(page, '#update-text')).toBe('Version 2.0.0 is ready.');
  await page.click('#switch');
  await page.waitForFunction(() => document.querySelector('#release')?.textContent?.includes('reverse 2.0.0'), undefined, { timeout: 60_000 });
  expect(await text(page, '#release')).toContain('version 2.0.0');
  for (const word of WORDS.slice(0, 3)) expect(await reverse(page, word)).toBe(expected['2.0.0'][word]);
  mkdirSync(`${REPO}test-results`, { recursive: true });
  await page.screenshot({ path: `${REPO}test-results/reverse.png`, fullPage: true });
  await context.close();
});

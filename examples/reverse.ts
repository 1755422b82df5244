/**
 * @file The encoder–decoder example page: loads the release (three graphs, a tokenizer, a config),
 * shows what runs, and reverses what the user types, streaming each letter as the decoder makes it
 * in one `generate()` call whose key/value cache stays in the worker (a new word aborts the last). A newer release is offered with a Switch button.
 */
import { loadModel, type Model } from 'ondevice';
import { decode, tokenizerOf, type Tokenizer } from './seq2seq/greedy.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const input = $<HTMLInputElement>('word');
const output = $('output');
const phase = $('phase');

function list(id: string, rows: Array<[string, string]>): void {
  $(id).replaceChildren(...rows.flatMap(([k, v]) => [Object.assign(document.createElement('dt'), { textContent: k }), Object.assign(document.createElement('dd'), { textContent: v })]));
}

let model: Model;
let tokenizer: Tokenizer;

function showRelease(): void {
  const { info } = model;
  list('release', [
    ['model', `${info.name} ${info.version}`],
    ['graphs', Object.keys(info.graphs).join(', ')],
    ['assets', info.assets.map((a) => a.name).join(', ')],
    ['tokenizer', `version ${tokenizer.version}`],
    ['runs on', `${info.backend} (${info.variant})`],
    ['from', info.fromCache ? 'this device' : 'the host'],
  ]);
}

/** The decode in progress: a new word stops it between two steps, in the worker. */
let running: AbortController | undefined;
async function reverse(): Promise<void> {
  const word = input.value.toLowerCase().replace(/[^a-z]/g, '');
  running?.abort();
  const controller = new AbortController();
  running = controller;
  output.textContent = '';
  if (!word) return;
  const started = performance.now();
  let first = 0;
  let tokens: number[];
  try {
    tokens = await decode(model, tokenizer, word, {
      signal: controller.signal,
      onToken: (_, letter) => {
        if (controller.signal.aborted) return; // told before the worker heard the abort
        first ||= performance.now() - started;
        output.textContent += letter;
      },
    });
  } catch (error) {
    if (controller.signal.aborted) return; // the user typed on: the next word's decode owns the page
    throw error;
  }
  const ms = performance.now() - started;
  list('decoding', [
    ['letters', String(tokens.length)],
    ['first letter', `${first.toFixed(1)} ms`],
    ['per letter', `${(ms / Math.max(1, tokens.length)).toFixed(1)} ms`],
    ['loop', 'one generate() call, its cache kept in the worker'],
  ]);
  phase.textContent = `ready — reversed "${word}"`;
}

async function start(): Promise<void> {
  model = await loadModel('/reverse-release/manifest.json', {
    onUpdate: (update) => {
      $('update-text').textContent = `Version ${update.version} is ready.`;
      $('update').hidden = false;
    },
  });
  tokenizer = await tokenizerOf(model);
  showRelease();
  await reverse();
}

input.addEventListener('input', () => void reverse().catch((e: unknown) => (phase.textContent = `error: ${(e as Error).message}`)));
$('switch').addEventListener('click', async () => {
  await model.reload();
  tokenizer = await tokenizerOf(model);
  $('update').hidden = true;
  showRelease();
  await reverse();
});
$('publish').addEventListener('click', async () => {
  await fetch('/reverse-host/publish', { method: 'POST' });
  phase.textContent = 'published 2.0.0 on the host; press "Check for update"';
});
$('check').addEventListener('click', async () => {
  const result = await model.checkForUpdate();
  if (!result.available) phase.textContent = 'up to date';
});
$('reset').addEventListener('click', async () => {
  await fetch('/reverse-host/reset', { method: 'POST' });
  const { modelCache } = await import('ondevice');
  await model.dispose();
  await modelCache.clear();
  location.reload();
});

start().catch((e: unknown) => (phase.textContent = `error: ${(e as Error).message}`));

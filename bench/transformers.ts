/**
 * @file Suite "transformers": time to the first embedding of a transformers.js feature-extraction
 * pipeline, through `transformersCache` (files from an ondevice release, cached in OPFS/IndexedDB)
 * vs transformers.js with its own browser cache (the Cache API, files from a hub mirror), same model
 * (the tiny BERT of models/tiny-bert), same page, same onnxruntime-web build. Cold: every cache
 * emptied first. Warm: the files cached; a new cache object (ours) and a new pipeline (both) each
 * round, interleaved, as a revisit would make them.
 */
import { env, pipeline } from '@huggingface/transformers';
import { modelCache, transformersCache } from '../src/index.js';
import { stats, type Stats } from './stats.js';

export interface TransformersReport {
  model: string;
  cold: Record<string, number>;
  warm: Record<string, Stats>;
  baseline: string;
  /** One big cached file read through each cache: what storage alone costs, apart from the runtime. */
  file: { size: string; ms: Record<string, Stats> };
  /** The files a warm first embedding asks for, read through a new cache object each round: the delivery's share of `warm`. */
  files: { names: string[]; ms: Record<string, Stats> };
}

const OURS = 'ondevice transformersCache';
const NEVER = "ondevice, update: 'never'";
const THEIRS = 'transformers.js, its browser cache';
const STORAGE = (new URLSearchParams(location.search).get('storage') ?? 'auto') as 'auto';
const SENTENCE = 'the model runs on device';

async function firstEmbedding(repo: string): Promise<number> {
  const t0 = performance.now();
  const extractor = await pipeline('feature-extraction', repo, { dtype: 'q8', device: 'wasm' });
  await extractor(SENTENCE, { pooling: 'mean', normalize: true });
  const ms = performance.now() - t0;
  await extractor.dispose();
  return ms;
}

export async function transformersSuite(modelServer: string, rounds: number, log: (s: string) => void): Promise<TransformersReport> {
  env.backends.onnx.wasm!.wasmPaths = { mjs: `${modelServer}/ort/ort-wasm-simd-threaded.asyncify.mjs`, wasm: `${modelServer}/ort/ort-wasm-simd-threaded.asyncify.wasm` };
  env.backends.onnx.wasm!.numThreads = 1;
  env.allowLocalModels = false;
  env.useWasmCache = false;
  const manifest = `${modelServer}/tiny-bert-release/manifest.json`;
  const ours = async (update: 'background' | 'never' = 'background') => {
    env.useCustomCache = true;
    env.useBrowserCache = false;
    env.customCache = await transformersCache({ models: { 'acme/tiny-bert': manifest }, update, storage: STORAGE });
    try {
      return await firstEmbedding('acme/tiny-bert');
    } finally {
      env.useCustomCache = false;
    }
  };
  const theirs = async (repo = 'acme/tiny-bert') => {
    env.useBrowserCache = true;
    env.remoteHost = `${modelServer}/tiny-bert-hub/`;
    env.remotePathTemplate = '{model}/';
    return firstEmbedding(repo);
  };
  // The runtime's WASM compiled once for both (a page's first pipeline pays it, whoever serves the files).
  await theirs('warmup/tiny-bert');
  // Cold: nothing cached by either; three rounds, each in turn first (the first of ours also loads
  // ondevice's host module, as a page's first visit does), the median kept.
  const colds: Record<string, number[]> = { [THEIRS]: [], [OURS]: [] };
  for (let r = 0; r < 3; r++) {
    for (const name of r % 2 === 0 ? [THEIRS, OURS] : [OURS, THEIRS]) {
      // Each empties only its own cache: the other's stays for the warm rounds.
      if (name === THEIRS) await caches.delete(env.cacheKey);
      else await modelCache.clear();
      colds[name]!.push(name === THEIRS ? await theirs() : await ours());
    }
  }
  const cold = Object.fromEntries(Object.entries(colds).map(([k, v]) => [k, stats(v).median]));
  const warm: Record<string, number[]> = { [THEIRS]: [], [OURS]: [], [NEVER]: [] };
  // Each round in another order, so that what follows what (a GC, a compile) lands on each in turn.
  const runs: Array<[string, () => Promise<number>]> = [
    [THEIRS, () => theirs()],
    [OURS, () => ours()],
    [NEVER, () => ours('never')],
  ];
  // Twice the rounds of the other rows: a round is ~50 ms, and the pipeline's own work (the same for
  // both) varies by a few ms from round to round, which ten rounds did not average out (0.80–1.06×
  // over six runs of one build).
  for (let r = 0; r < rounds * 2; r++) {
    for (let i = 0; i < runs.length; i++) {
      const [name, run] = runs[(i + r) % runs.length]!;
      warm[name]!.push(await run());
      await settle();
    }
  }
  const files = await smallFiles(modelServer, manifest, rounds * 4);
  const file = await bigFile(modelServer, rounds);
  log('[bench] transformers: done');
  return { model: 'tiny BERT (int8, 60 kB; 2 layers)', cold, warm: Object.fromEntries(Object.entries(warm).map(([k, v]) => [k, stats(v)])), baseline: THEIRS, file, files };
}

/**
 * Untimed, after every timed run: what a run leaves going (ours: the background check of the host, the
 * last-use write) ends here, not inside the next contender's time.
 */
const SETTLE_MS = 100;
const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

/** Each run timed `rounds` times, each round in another order (what follows what lands on each in turn). */
async function timedRounds(runs: Array<[string, () => Promise<unknown>]>, rounds: number): Promise<Record<string, Stats>> {
  const ms: Record<string, number[]> = Object.fromEntries(runs.map(([name]) => [name, []]));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < runs.length; i++) {
      const [name, run] = runs[(i + r) % runs.length]!;
      const t0 = performance.now();
      await run();
      ms[name]!.push(performance.now() - t0);
      await settle();
    }
  }
  return Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, stats(v)]));
}

/** What the pipeline reads on a warm start, in its order (transformers.js 4.3.2 with dtype q8). */
const WARM_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model_quantized.onnx'];

/**
 * The warm start's files alone, with no pipeline: ours through a new `transformersCache` each round
 * (its resolve included, as a page load pays it), theirs through the Cache API entries the warm
 * rounds left. Both read every body whole, as transformers.js does.
 */
async function smallFiles(modelServer: string, manifest: string, rounds: number): Promise<TransformersReport['files']> {
  const repo = 'acme/tiny-bert';
  // transformers.js's keys under the suite's remotePathTemplate ('{model}/').
  const keys = WARM_FILES.map((f) => `${modelServer}/tiny-bert-hub/${repo}/${f}`);
  const readAll = async (match: (i: number) => Promise<Response | undefined>) => {
    for (let i = 0; i < WARM_FILES.length; i++) {
      const response = await match(i);
      if (!response?.ok) throw new Error(`bench: ${WARM_FILES[i]} was not served from the cache`);
      await response.arrayBuffer();
    }
  };
  const runs: Array<[string, () => Promise<unknown>]> = [
    [THEIRS, async () => {
      const cache = await caches.open(env.cacheKey);
      await readAll((i) => cache.match(keys[i]!));
    }],
    [OURS, async () => {
      const cache = await transformersCache({ models: { [repo]: manifest }, storage: STORAGE });
      await readAll((i) => cache.match(`/models/${repo}/${WARM_FILES[i]}`));
    }],
    [NEVER, async () => {
      const cache = await transformersCache({ models: { [repo]: manifest }, update: 'never', storage: STORAGE });
      await readAll((i) => cache.match(`/models/${repo}/${WARM_FILES[i]}`));
    }],
  ];
  return { names: WARM_FILES, ms: await timedRounds(runs, rounds) };
}

/**
 * A 64 MiB file of the repo (bench/run.mjs writes it), cached by each, then read warm: ours through
 * one resolved `transformersCache` (a stream from OPFS, checked as it flows), theirs from the Cache
 * API entry transformers.js made, by its URL. Nothing else runs, so the figure is the store's.
 */
async function bigFile(modelServer: string, rounds: number): Promise<TransformersReport['file']> {
  const repo = 'acme/tiny-bert-big';
  const url = `${modelServer}/tiny-bert-hub/${repo}/big.bin`;
  await modelCache.clear();
  const cache = await transformersCache({ models: { [repo]: `${modelServer}/tiny-bert-big/manifest.json` } });
  const theirCache = await caches.open(env.cacheKey);
  await theirCache.put(url, await fetch(url));
  let size = 0;
  const read = async (response: Response | undefined): Promise<number> => {
    if (!response?.ok) throw new Error(`bench: ${url} was not served from the cache`);
    size = (await response.arrayBuffer()).byteLength;
    return size;
  };
  await read(await cache.match(`/models/${repo}/big.bin`));
  const ms = await timedRounds(
    [
      [THEIRS, async () => read(await theirCache.match(url))],
      [OURS, async () => read(await cache.match(`/models/${repo}/big.bin`))],
    ],
    rounds,
  );
  await theirCache.delete(url);
  return { size: `${(size / 1024 / 1024).toFixed(0)} MiB`, ms };
}

/** @file The browser project's setup: the model server, the fault proxy, and reference outputs (onnxruntime-node, TF.js in Node), once per run. */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { LARGE_MODEL, RESUMABLE_MODEL, writeSyntheticModel } from '../../scripts/synthetic-model.mjs';
import { digitsManifest, mlpVariants, referenceLogits } from './digits.mjs';
import { tfjsReferenceLogits } from './digits-tfjs.mjs';
import { RUN_DIR, classifierReferences, externalDataReleases, quantizedReleases, statefulRelease } from './exporters.mjs';
import { startFaultProxy } from './fault-proxy.mjs';
import { startModelServer } from './model-server.mjs';
import { signedReleases, type SignedReleases } from './signed.js';
import { kvBenchRelease, referenceDecodes, seq2seqQ4Release, seq2seqReleases, WORDS } from './seq2seq.mjs';
import { tinyBertServed } from './tiny-bert.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    modelServer: string;
    /** The same host behind a fault-injecting proxy. */
    faultProxy: string;
    referenceLogits: { logits: number[]; dims: number[] };
    /** The same for the next release (1.1.0), to tell which version ran. */
    nextReferenceLogits: { logits: number[]; dims: number[] };
    /** onnxruntime-node's logits for each variant file of the 1.0.0 release. */
    variantReferences: Record<string, { logits: number[]; dims: number[] }>;
    /** onnxruntime-node's logits for each variant file of the digits MLP (models/digits-mlp: fp32, int8, q4, q4f16). */
    mlpReferences: Record<string, { logits: number[]; dims: number[] }>;
    /** The generated ~300 MB model (ONNX external data): its path on the server, size, and y[0..16) for x = ones. */
    largeModel: { path: string; n: number; bytes: number; head: number[] };
    /** The generated ~24 MB model (ONNX external data) the resume test stalls and kills mid-download: the same fields. */
    resumableModel: { path: string; n: number; bytes: number; head: number[] };
    /** TF.js's own CPU logits in Node for the TF.js digits releases (models/digits-tfjs). */
    tfjsReferences: Record<'layers' | 'layers-next' | 'graph', { logits: number[]; dims: number[] }>;
    /** onnxruntime-node's logits for models/exporters/classifier-2024-05.onnx, by row count. */
    classifierReferences: Record<string, { logits: number[]; dims: number[] }>;
    /** Releases published at test time with the CLI, one variant per quantization, and each variant's reference outputs. */
    /** vad_v5-stateful.onnx published with the CLI, and onnxruntime-node's outputs over calls that feed the state back. */
    statefulRelease: { manifest: string; ys: number[]; state: number[] };
    externalDataReleases: Record<'exported' | 'split', string>;
    quantizedReleases: Record<string, { manifest: string; inputs: Record<string, { type: string; data: number[]; dims: number[] }>; variants: Record<string, { logits: number[]; dims: number[] }> }>;
    /** Two key pairs and the digits releases signed with them (test/support/signed.ts). */
    signedReleases: SignedReleases;
    /** The encoder–decoder example published with the CLI (1.0.0 alone; 1.0.0 then 2.0.0), and onnxruntime-node's greedy tokens per word for each version. */
    seq2seq: { v1: string; both: string; words: string[]; tokens: Record<'1.0.0' | '2.0.0', Record<string, number[]>>; q4: { manifest: string; tokens: Record<string, number[]> } };
    /** kv-bench (a decoder with no positional table, whose loop runs until stopped) published as 1.0.0, and onnxruntime-node's greedy tokens on it (test/support/seq2seq.mjs, KV_BENCH_RUN). */
    kvBench: { manifest: string; tokens: number[] };
    /** The tiny BERT (models/tiny-bert) published with the CLI: 1.0.0 alone, and 1.0.0 then 2.0.0; its repo folders on the server (for transformers.js reading them itself), and the sentences to embed. */
    tinyBert: { v1: string; both: string; external: { folder: string; manifest: string }; folders: string; sentences: string[]; wasmPaths: { mjs: string; wasm: string } };
    /** The ONNX backend node tests to run (scripts/onnx-backend-cases.py): the repo's subset, or all of them with ONDEVICE_ONNX_BACKEND=all. */
    onnxBackend: { base: string; cases: string[] };
  }
}

/** Generated at test time, never committed; reused while its manifest matches. */
async function syntheticModel(model: typeof LARGE_MODEL, folder: string) {
  const dir = model.dir;
  const manifest = writeSyntheticModel(dir, model.options);
  const n = manifest.metadata.n;
  const ort = (await import('onnxruntime-node')).default;
  const session = await ort.InferenceSession.create(`${dir}${manifest.variants.fp32.files[0]!.path}`);
  const out = await session.run({ x: new ort.Tensor('float32', new Float32Array(n).fill(1), [1, n]) });
  await session.release();
  const bytes = manifest.variants.fp32.files.reduce((sum: number, f: { size: number }) => sum + f.size, 0);
  return { path: `/generated/${folder}/manifest.json`, n, bytes, head: Array.from((out['y']!.data as Float32Array).slice(0, 16)) };
}

/** The committed subset (models/onnx-backend), or the whole set `npm run conformance` generates. */
function onnxBackendCases(): { base: string; cases: string[] } {
  const all = process.env['ONDEVICE_ONNX_BACKEND'] === 'all';
  const base = all ? '/generated/onnx-backend' : '/onnx-backend';
  const dir = fileURLToPath(new URL(`../../models${base}/`, import.meta.url));
  if (all && !existsSync(dir)) throw new Error(`ONDEVICE_ONNX_BACKEND=all: ${dir} is missing; run npm run conformance (it generates the cases first)`);
  return { base, cases: readdirSync(dir).filter((name) => existsSync(`${dir}${name}/case.json`)).sort() };
}

type Provided = { [K in keyof import('vitest').ProvidedContext]: import('vitest').ProvidedContext[K] };

/** Every engine's browser project runs this file; the servers and references are made once per run and shared. */
interface Shared {
  context: Promise<{ values: Partial<Provided> }>;
  users: number;
}
const KEY = Symbol.for('ondevice.test.global-setup');
const holder = globalThis as typeof globalThis & { [KEY]?: Shared };

const RUNS = fileURLToPath(new URL('../../models/generated/runs/', import.meta.url));

/** The generated releases of runs whose process is gone (killed by the watchdog, or by hand). */
function sweepDeadRuns(): void {
  for (const pid of existsSync(RUNS) ? readdirSync(RUNS) : []) {
    let alive = false;
    try {
      process.kill(Number(pid), 0);
      alive = true;
    } catch {
      // No such process.
    }
    if (!alive || !/^\d+$/.test(pid)) rmSync(`${RUNS}${pid}`, { recursive: true, force: true });
  }
}

async function start(): Promise<{ values: Partial<Provided> }> {
  sweepDeadRuns();
  const values: Partial<Provided> = {};
  values.largeModel = await syntheticModel(LARGE_MODEL, 'large');
  values.resumableModel = await syntheticModel(RESUMABLE_MODEL, 'resumable');
  values.onnxBackend = onnxBackendCases();
  // Before the server starts: it lists the files it serves once, at start.
  values.quantizedReleases = await quantizedReleases();
  values.statefulRelease = await statefulRelease();
  values.externalDataReleases = await externalDataReleases();
  const seq2seq = await seq2seqReleases();
  values.seq2seq = { v1: seq2seq.v1, both: seq2seq.both, words: WORDS, tokens: { '1.0.0': await referenceDecodes('v1'), '2.0.0': await referenceDecodes('v2') }, q4: await seq2seqQ4Release() };
  const kvBench = await kvBenchRelease();
  values.kvBench = { manifest: kvBench.manifest, tokens: kvBench.tokens };
  values.tinyBert = await tinyBertServed();
  values.referenceLogits = await referenceLogits();
  values.nextReferenceLogits = await referenceLogits('next');
  const variants = Object.keys(digitsManifest().variants);
  values.variantReferences = Object.fromEntries(await Promise.all(variants.map(async (v) => [v, await referenceLogits('release', v)])));
  values.mlpReferences = Object.fromEntries(await Promise.all(mlpVariants().map(async (v) => [v, await referenceLogits('mlp', v)])));
  values.classifierReferences = await classifierReferences();
  values.signedReleases = await signedReleases();
  values.tfjsReferences = {
    layers: await tfjsReferenceLogits('layers'),
    'layers-next': await tfjsReferenceLogits('layers-next'),
    graph: await tfjsReferenceLogits('graph'),
  };
  return { values };
}

/**
 * The references are made once and shared; each project (engine) has its own model server and
 * fault proxy, whose state (fault rules, request logs, gates) is per test: engines run at once.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const shared = (holder[KEY] ??= { context: start(), users: 0 });
  shared.users++;
  const { values } = await shared.context;
  for (const [key, value] of Object.entries(values)) project.provide(key as keyof Provided, value as never);
  const server = await startModelServer();
  const proxy = await startFaultProxy(server.url);
  project.provide('modelServer', server.url);
  project.provide('faultProxy', proxy.url);
  return async () => {
    await proxy.close();
    await server.close();
    if (--shared.users > 0) return;
    delete holder[KEY];
    rmSync(fileURLToPath(new URL(`../../models/generated/${RUN_DIR}/`, import.meta.url)), { recursive: true, force: true });
  };
}

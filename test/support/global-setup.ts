/** @file The browser project's setup: the model server, the fault proxy, and reference outputs (onnxruntime-node, TF.js in Node), once per run. */
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { writeSyntheticModel } from '../../scripts/synthetic-model.mjs';
import { digitsManifest, referenceLogits } from './digits.mjs';
import { tfjsReferenceLogits } from './digits-tfjs.mjs';
import { classifierReferences, externalDataReleases, quantizedReleases, statefulRelease } from './exporters.mjs';
import { startFaultProxy } from './fault-proxy.mjs';
import { startModelServer } from './model-server.mjs';
import { signedReleases, type SignedReleases } from './signed.js';

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
    /** The generated ~300 MB model (ONNX external data): its path on the server, size, and y[0..16) for x = ones. */
    largeModel: { path: string; n: number; bytes: number; head: number[] };
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
    /** The ONNX backend node tests to run (scripts/onnx-backend-cases.py): the repo's subset, or all of them with ONDEVICE_ONNX_BACKEND=all. */
    onnxBackend: { base: string; cases: string[] };
  }
}

/** Generated at test time, never committed; reused while its manifest matches. */
async function largeModel() {
  const dir = fileURLToPath(new URL('../../models/generated/large/', import.meta.url));
  const manifest = writeSyntheticModel(dir, { mb: 300, external: true, name: 'large' });
  const n = manifest.metadata.n;
  const ort = (await import('onnxruntime-node')).default;
  const session = await ort.InferenceSession.create(`${dir}${manifest.variants.fp32.files[0]!.path}`);
  const out = await session.run({ x: new ort.Tensor('float32', new Float32Array(n).fill(1), [1, n]) });
  await session.release();
  const bytes = manifest.variants.fp32.files.reduce((sum: number, f: { size: number }) => sum + f.size, 0);
  return { path: '/generated/large/manifest.json', n, bytes, head: Array.from((out['y']!.data as Float32Array).slice(0, 16)) };
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
  context: Promise<{ values: Partial<Provided>; close: () => Promise<void> }>;
  users: number;
}
const KEY = Symbol.for('ondevice.test.global-setup');
const holder = globalThis as typeof globalThis & { [KEY]?: Shared };

async function start(): Promise<{ values: Partial<Provided>; close: () => Promise<void> }> {
  const values: Partial<Provided> = {};
  values.largeModel = await largeModel();
  values.onnxBackend = onnxBackendCases();
  // Before the server starts: it lists the files it serves once, at start.
  values.quantizedReleases = await quantizedReleases();
  values.statefulRelease = await statefulRelease();
  values.externalDataReleases = await externalDataReleases();
  const server = await startModelServer();
  values.modelServer = server.url;
  const proxy = await startFaultProxy(server.url);
  values.faultProxy = proxy.url;
  values.referenceLogits = await referenceLogits();
  values.nextReferenceLogits = await referenceLogits('next');
  const variants = Object.keys(digitsManifest().variants);
  values.variantReferences = Object.fromEntries(await Promise.all(variants.map(async (v) => [v, await referenceLogits('release', v)])));
  values.classifierReferences = await classifierReferences();
  values.signedReleases = await signedReleases();
  values.tfjsReferences = {
    layers: await tfjsReferenceLogits('layers'),
    'layers-next': await tfjsReferenceLogits('layers-next'),
    graph: await tfjsReferenceLogits('graph'),
  };
  return {
    values,
    close: async () => {
      await proxy.close();
      await server.close();
    },
  };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const shared = (holder[KEY] ??= { context: start(), users: 0 });
  shared.users++;
  const { values, close } = await shared.context;
  for (const [key, value] of Object.entries(values)) project.provide(key as keyof Provided, value as never);
  return async () => {
    if (--shared.users > 0) return;
    delete holder[KEY];
    await close();
  };
}

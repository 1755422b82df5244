/**
 * @file Suite "variants": run() latency of each variant of the same model, side by side, per backend:
 * fp32 (the baseline), int8, q4 and q4f16 (4-bit MatMulNBits, made by `ondevice quantize`). Two
 * models: the digits MLP (models/digits-mlp, 341 kB, three MatMul layers) at batch 1 and 360, and a
 * chain of 8 MatMuls of 16 MB generated at bench time (weights dominate, as in a transformer block)
 * at batch 1 and 16. A variant the loader refuses on a backend (q4f16 on WebGPU without shader-f16) is
 * reported with the loader's reason, not timed.
 */
import { loadModel, OndeviceError, type Backend, type Model } from '../src/index.js';
import { stats, type Stats } from './stats.js';

export interface VariantRow {
  variant: string;
  /** Milliseconds a run, by batch; absent when the loader refused the variant here. */
  ms?: Record<number, Stats>;
  bytes?: number | undefined;
  refused?: string;
}

export interface VariantsReport {
  model: string;
  backend: Backend;
  rows: VariantRow[];
}

interface Subject {
  model: string;
  manifest: string;
  input: string;
  /** Dims of one sample after the batch. */
  sample: number[];
  batches: number[];
}

const VARIANTS = ['fp32', 'int8', 'q4', 'q4f16'];
const ROUNDS = 5;

async function open(subject: Subject, backend: Backend, variant: string): Promise<Model | string> {
  try {
    return await loadModel(subject.manifest, { backend, variant, update: 'never' });
  } catch (error) {
    if (error instanceof OndeviceError) return error.message;
    throw error;
  }
}

/** Mean ms of one call over a block of calls (the page's clock is coarse). */
async function timeBlock(model: Model, subject: Subject, batch: number, calls: number): Promise<number> {
  const size = subject.sample.reduce((a, b) => a * b, 1) * batch;
  const inputs = Array.from({ length: calls }, (_, k) => Float32Array.from({ length: size }, (_, i) => ((i * 7 + k) % 17) / 17));
  const t0 = performance.now();
  for (const data of inputs) await model.run({ [subject.input]: { type: 'float32', data, dims: [batch, ...subject.sample] } });
  return (performance.now() - t0) / calls;
}

async function measure(subject: Subject, backend: Backend, log: (s: string) => void): Promise<VariantsReport> {
  const models = new Map<string, Model>();
  const rows: VariantRow[] = [];
  for (const variant of VARIANTS) {
    const opened = await open(subject, backend, variant);
    if (typeof opened === 'string') rows.push({ variant, refused: opened });
    else {
      models.set(variant, opened);
      rows.push({ variant, ms: {} });
      for (const batch of subject.batches) await timeBlock(opened, subject, batch, 3); // warm-up
    }
  }
  // Interleaved rounds: each variant timed in every round, so a busy moment of the machine lands on all.
  const samples = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [variant, model] of models) {
      for (const batch of subject.batches) {
        const key = `${variant}|${batch}`;
        samples.set(key, [...(samples.get(key) ?? []), await timeBlock(model, subject, batch, batch === 1 ? 20 : 4)]);
      }
    }
  }
  for (const row of rows) {
    const model = models.get(row.variant);
    if (!model) continue;
    for (const batch of subject.batches) row.ms![batch] = stats(samples.get(`${row.variant}|${batch}`)!);
    await model.dispose();
  }
  const manifest = (await (await fetch(subject.manifest)).json()) as { variants: Record<string, { files: Array<{ size: number }> }> };
  for (const row of rows) row.bytes = manifest.variants[row.variant]?.files.reduce((a, f) => a + f.size, 0);
  log(`[bench] variants: ${subject.model} on ${backend} done`);
  return { model: subject.model, backend, rows };
}

export async function variantsSuite(modelServer: string, backends: Backend[], log: (s: string) => void): Promise<VariantsReport[]> {
  const subjects: Subject[] = [
    { model: 'digits MLP (341 kB)', manifest: `${modelServer}/digits-mlp/release/manifest.json`, input: 'image', sample: [1, 8, 8], batches: [1, 360] },
    { model: '8 MatMuls, 16 MB', manifest: `${modelServer}/matmul-chain/manifest.json`, input: 'x', sample: [724], batches: [1, 16] },
  ];
  const reports: VariantsReport[] = [];
  for (const backend of backends) for (const subject of subjects) reports.push(await measure(subject, backend, log));
  return reports;
}

/// <reference types="node" />
/**
 * @file `ondevice verify`: runs every variant of a release on a test set (ONNX with onnxruntime-node,
 * TF.js with TF.js's CPU backend through the library's own adapter) and compares it with fp32: size,
 * max abs diff, top-1 agreement, and accuracy when labels are given.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { CliError } from './cli-error.js';
import { readManifestFile, type ManifestJson } from './manifest-file.js';
import { openTfjs } from './tfjs-model.js';
import { graphFiles, openGraph, verifyGraphs, type GraphRow } from './verify-graphs.js';

export interface TestSet {
  input: string;
  dims: number[];
  data: Float32Array;
  labels: number[] | undefined;
}

/** A test set: JSON `{ input, dims, file, labels? }`, with `file` float32 little-endian, relative to the JSON. */
export async function readTestSet(path: string): Promise<TestSet> {
  let meta: { input?: unknown; dims?: unknown; file?: unknown; labels?: unknown };
  try {
    meta = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new CliError(`cannot read the test set ${path}: ${(error as Error).message}`);
  }
  if (typeof meta.input !== 'string' || !Array.isArray(meta.dims) || typeof meta.file !== 'string') {
    throw new CliError(`${path} must be JSON { "input": name, "dims": [N, ...], "file": "data.bin", "labels"?: [...] }`);
  }
  const file = resolve(dirname(path), meta.file);
  const raw = await readFile(file).catch((error: NodeJS.ErrnoException) => {
    throw new CliError(`cannot read the test set's data ${file} (${error.code ?? error.message})`);
  });
  const data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const dims = meta.dims as number[];
  if (dims.reduce((a, b) => a * b, 1) !== data.length) throw new CliError(`${meta.file} holds ${data.length} floats, but dims [${dims.join(', ')}] need ${dims.reduce((a, b) => a * b, 1)}`);
  return { input: meta.input, dims, data, labels: Array.isArray(meta.labels) ? (meta.labels as number[]) : undefined };
}

export interface VariantRow {
  variant: string;
  bytes: number;
  /** Size as a fraction of the reference variant's. */
  sizeRatio: number;
  maxAbsDiff: number;
  /** Share of samples whose top-1 class equals the reference's. */
  agreement: number;
  accuracy: number | undefined;
}

export interface Thresholds {
  minAgreement: number;
  /** In percentage points; by default 0.5, and 1 for 4-bit variants (see accuracyDropFor). */
  maxAccuracyDrop?: number | undefined;
}

/** 4-bit weights trade a little accuracy for a third of int8's bytes: DESIGN's goal for them is within 1 point. */
const FOUR_BIT = new Set(['q4', 'q4f16', 'int4', 'uint4', 'bnb4']);
export const accuracyDropFor = (variant: string): number => (FOUR_BIT.has(variant) ? 1 : 0.5);

export interface VerifyReport {
  reference: string;
  /** The test set on the default graph, variant by variant. */
  rows: VariantRow[];
  /** A release of several graphs: every graph of every variant on fixed inputs. */
  graphs?: GraphRow[];
  failures: string[];
}

type OrtNode = typeof import('onnxruntime-node');

async function loadOrt(): Promise<OrtNode> {
  try {
    return (await import('onnxruntime-node')) as OrtNode;
  } catch {
    throw new CliError('verify runs the models with onnxruntime-node: install it (npm install -D onnxruntime-node).');
  }
}

interface InputSpec {
  name: string;
  type: string;
  dims: Array<number | string>;
}

const describeInput = (i: InputSpec) => `${i.name} (${i.type} [${i.dims.join(', ')}])`;

/**
 * The test set must feed the model: its one input is one of the model's (and the model needs no
 * other), float32, with the model's rank and fixed dimensions. Said before any variant runs, naming
 * both sides, instead of the runtime's "missing in feeds" from deep inside a session.
 */
export function checkTestSet(inputs: unknown[], testSet: TestSet): void {
  const specs = inputs.filter((i): i is InputSpec => typeof i === 'object' && i !== null && typeof (i as InputSpec).name === 'string' && Array.isArray((i as InputSpec).dims));
  if (!specs.length) return;
  const spec = specs.find((i) => i.name === testSet.input);
  const has = specs.map(describeInput).join(', ');
  if (!spec) throw new CliError(`the test set's input "${testSet.input}" is not an input of the model: it has ${has}. Set "input" in the test set's JSON to one of them.`);
  const others = specs.filter((i) => i !== spec);
  if (others.length) throw new CliError(`the model needs ${others.length === 1 ? 'another input' : 'other inputs'} besides "${spec.name}": ${others.map(describeInput).join(', ')}; a test set gives one input, so verify supports models with one input`);
  if (spec.type !== 'float32') throw new CliError(`the model's "${spec.name}" is ${spec.type}; a test set holds float32 data, so verify supports float32 inputs`);
  const fits = spec.dims.length === testSet.dims.length && spec.dims.every((d, i) => typeof d !== 'number' || d < 0 || d === testSet.dims[i]);
  if (!fits) throw new CliError(`the test set's "${testSet.input}" has dims [${testSet.dims.join(', ')}], but the model's "${spec.name}" is ${spec.type} [${spec.dims.join(', ')}]`);
}

/** `testSet` may be left out for a release of several graphs: then only the graphs are compared. */
export async function verifyRelease(target: string, testSet: TestSet | undefined, thresholds: Thresholds): Promise<VerifyReport> {
  const { manifest, dir } = await readManifestFile(target);
  const names = Object.keys(manifest.variants);
  const reference = names.includes('fp32') ? 'fp32' : names[0]!;
  const several = Boolean(manifest['graphs']) && manifest.runtime === 'onnx';
  if (!testSet && !several) throw new CliError('--data <test-set.json> is required', 2);
  const { rows, failures } = testSet ? await onTestSet(manifest, dir, names, reference, testSet, thresholds) : { rows: [], failures: [] };
  if (!several) return { reference, rows, failures };
  const graphs = await verifyGraphs(await loadOrt(), manifest, dir, reference);
  for (const g of graphs) if (g.broken) failures.push(`${g.variant}: graph ${g.graph} gives ${g.broken} where ${reference}'s does not: the variant is broken; do not publish it`);
  return { reference, rows, graphs, failures };
}

/** Every variant on the test set (the default graph's, in a release of several), compared with `reference`. */
async function onTestSet(manifest: ManifestJson, dir: string, names: string[], reference: string, testSet: TestSet, thresholds: Thresholds): Promise<{ rows: VariantRow[]; failures: string[] }> {
  const run = manifest.runtime === 'onnx' ? onnxRunner(await loadOrt()) : tfjsRunner(manifest.runtime === 'tfjs-layers' ? 'layers' : 'graph');
  const outputs = new Map<string, { logits: Float32Array; classes: number; bytes: number }>();
  for (const variant of names) outputs.set(variant, await run(manifest, dir, variant, testSet));
  const base = outputs.get(reference)!;
  const rows: VariantRow[] = names.map((variant) => {
    const out = outputs.get(variant)!;
    return {
      variant,
      bytes: out.bytes,
      sizeRatio: out.bytes / base.bytes,
      maxAbsDiff: out.logits.reduce((m, v, i) => Math.max(m, Math.abs(v - base.logits[i]!)), 0),
      agreement: agreement(out.logits, base.logits, out.classes),
      accuracy: testSet.labels ? accuracy(out.logits, testSet.labels, out.classes) : undefined,
    };
  });
  const baseRow = rows.find((r) => r.variant === reference)!;
  const failures: string[] = [];
  // A variant whose outputs collapsed (NaN, Inf, or one value everywhere) where the reference's vary
  // is broken, whatever its agreement says (a constant output "agrees" with any argmax of ties).
  const broken = collapse(base.logits);
  for (const variant of names) {
    const why = collapse(outputs.get(variant)!.logits);
    if (variant !== reference && why && !broken) failures.push(`${variant}: its outputs collapse (${why}) where ${reference}'s do not: the variant is broken; do not publish it`);
  }
  for (const row of rows) {
    if (row.agreement < thresholds.minAgreement) failures.push(`${row.variant}: top-1 agreement ${pct(row.agreement)} is below ${pct(thresholds.minAgreement)}`);
    const drop = thresholds.maxAccuracyDrop ?? accuracyDropFor(row.variant);
    if (row.accuracy !== undefined && baseRow.accuracy !== undefined && (baseRow.accuracy - row.accuracy) * 100 > drop + 1e-9) {
      failures.push(`${row.variant}: accuracy ${pct(row.accuracy)} is more than ${drop} points below ${reference}'s ${pct(baseRow.accuracy)}`);
    }
  }
  return { rows, failures };
}

type Runner = (manifest: ManifestJson, dir: string, variant: string, testSet: TestSet) => Promise<{ logits: Float32Array; classes: number; bytes: number }>;

/** TF.js variants load exactly as in the browser (model.json first, then the shards), on TF.js's CPU backend. */
function tfjsRunner(kind: 'layers' | 'graph'): Runner {
  return async (manifest, dir, variant, testSet) => {
    const listed = manifest.variants[variant]!.files;
    const files = await Promise.all(listed.map(async (f) => ({ path: f.path, bytes: new Uint8Array(await readFile(join(dir, f.path))) })));
    const session = await openTfjs(files, kind, variant);
    try {
      checkTestSet(manifest.inputs, testSet);
      const result = await session.run({ [testSet.input]: { type: 'float32', data: testSet.data.slice(), dims: testSet.dims } });
      const first = result[session.outputs[0]!.name]!;
      return { logits: Float32Array.from(first.data as Float32Array), classes: first.dims[first.dims.length - 1] ?? 1, bytes: files.reduce((n, f) => n + f.bytes.length, 0) };
    } finally {
      await session.release();
    }
  };
}

const onnxRunner = (ort: OrtNode): Runner => (manifest, dir, variant, testSet) => runVariant(ort, manifest, dir, variant, testSet);

async function runVariant(ort: OrtNode, manifest: ManifestJson, dir: string, variant: string, testSet: TestSet) {
  // The test set feeds the default graph (the first, in a release of several).
  const graphs = manifest['graphs'] as Record<string, unknown> | undefined;
  const files = graphFiles(manifest, variant, graphs ? Object.keys(graphs)[0] : undefined);
  const bytes = (await Promise.all(files.map(async (f) => (await stat(join(dir, f.path))).size))).reduce((a, b) => a + b, 0);
  // The variant's own files only: ORT would read any external data the model names from beside it.
  const session = await openGraph(ort, dir, files, `the ${variant} variant`);
  // The release first (above), then whether the test set fits it.
  try {
    checkTestSet(manifest.inputs, testSet);
  } catch (error) {
    await session.release();
    throw error;
  }
  const result = await session.run({ [testSet.input]: new ort.Tensor('float32', testSet.data, testSet.dims) });
  const first = result[session.outputNames[0]!]!;
  await session.release();
  const dims = first.dims.map(Number);
  return { logits: Float32Array.from(first.data as Float32Array), classes: dims[dims.length - 1] ?? 1, bytes };
}

/** Why `values` say nothing any more: a NaN or an infinity among them, or one value everywhere. */
function collapse(values: Float32Array): string | undefined {
  const bad = values.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) return `${values[bad]} at index ${bad}`;
  if (values.length > 1 && values.every((v) => v === values[0])) return `${values[0]} everywhere`;
  return undefined;
}

function argmax(values: Float32Array, start: number, count: number): number {
  let best = 0;
  for (let k = 1; k < count; k++) if (values[start + k]! > values[start + best]!) best = k;
  return best;
}

function agreement(a: Float32Array, b: Float32Array, classes: number): number {
  const n = a.length / classes;
  let same = 0;
  for (let i = 0; i < n; i++) if (argmax(a, i * classes, classes) === argmax(b, i * classes, classes)) same++;
  return same / n;
}

function accuracy(logits: Float32Array, labels: number[], classes: number): number {
  let right = 0;
  labels.forEach((label, i) => {
    if (argmax(logits, i * classes, classes) === label) right++;
  });
  return right / labels.length;
}

export const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

export function formatReport(report: VerifyReport): string {
  const head = `${'variant'.padEnd(8)} ${'bytes'.padStart(9)} ${'size'.padStart(7)} ${'max |Δ|'.padStart(10)} ${'top-1 agree'.padStart(12)} ${'accuracy'.padStart(9)}`;
  const lines = report.rows.map((r) =>
    `${r.variant.padEnd(8)} ${String(r.bytes).padStart(9)} ${pct(r.sizeRatio).padStart(7)} ${r.maxAbsDiff.toExponential(2).padStart(10)} ${pct(r.agreement).padStart(12)} ${(r.accuracy === undefined ? '—' : pct(r.accuracy)).padStart(9)}`,
  );
  const verdict = report.failures.length === 0 ? 'ok: every variant is within the thresholds' : report.failures.map((f) => `FAIL ${f}`).join('\n');
  const graphs = report.graphs ? [`every graph on fixed inputs (free dimensions 1), compared with ${report.reference}`, `${'graph'.padEnd(26)} ${'variant'.padEnd(8)} ${'bytes'.padStart(9)} ${'size'.padStart(7)} ${'max |Δ|'.padStart(10)}`, ...report.graphs.map((g) => `${g.graph.padEnd(26)} ${g.variant.padEnd(8)} ${String(g.bytes).padStart(9)} ${pct(g.sizeRatio).padStart(7)} ${g.maxAbsDiff.toExponential(2).padStart(10)}`)] : [];
  const table = report.rows.length > 0 ? [head, ...lines] : [];
  return [`compared with ${report.reference}`, ...table, ...graphs, verdict].join('\n');
}

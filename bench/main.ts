/**
 * The benchmark page. Suites run in this order, each side by side with its baseline:
 * `latency` (run() through ondevice vs onnxruntime-web on the main thread), `tfjs` (the same for the
 * TF.js layers model vs TF.js on the main thread, per backend), and `warm` (a load from
 * IndexedDB vs a session from bytes in memory). Parameters come in the query string.
 */
import type { Backend } from '../src/index.js';
import { latencySuite, type BackendReport } from './latency.js';
import { tfjsLatencySuite } from './tfjs.js';
import { hashSuite, type HashReport } from './hash.js';
import { memorySuite, type MemoryMarks } from './memory.js';
import { warmSuite, type WarmReport } from './warm.js';
import { statsCostSuite, type StatsCostReport } from './stats-cost.js';
import { signingSuite, type SigningReport } from './signing.js';
import { decodeSuite, type DecodeReport } from './decode.js';
import { variantsSuite, type VariantsReport } from './variants.js';
import { reloadSuite, type ReloadReport } from './reload.js';
import type { TransformersReport } from './transformers.js';

export interface BenchResult {
  latency?: BackendReport[];
  tfjs?: BackendReport[];
  warm?: WarmReport[];
  memory?: MemoryMarks;
  large?: MemoryMarks;
  hash?: HashReport;
  stats?: StatsCostReport;
  signing?: SigningReport;
  decode?: DecodeReport[];
  variants?: VariantsReport[];
  reload?: ReloadReport[];
  transformers?: TransformersReport;
  error?: string;
}

declare global {
  interface Window {
    benchResult?: BenchResult;
  }
}

async function main(): Promise<BenchResult> {
  const params = new URLSearchParams(location.search);
  const suites = (params.get('suites') ?? 'latency,warm').split(',');
  const log = (s: string) => console.log(`[bench] ${s}`);
  const result: BenchResult = {};
  if (suites.includes('latency')) result.latency = await latencySuite((params.get('backends') ?? 'wasm,webgpu').split(',') as Backend[], log);
  if (suites.includes('tfjs')) result.tfjs = await tfjsLatencySuite((params.get('tfjsBackends') ?? 'webgpu,webgl,wasm,cpu').split(',') as Backend[], log);
  if (suites.includes('warm')) result.warm = await warmSuite(params.getAll('warm'), Number(params.get('reps') ?? 5), log);
  if (suites.includes('memory')) result.memory = await memorySuite(params.get('memory')!, params.get('memoryExternal')!, log);
  if (suites.includes('large')) result.large = await memorySuite(params.get('large')!, undefined, log);
  if (suites.includes('hash')) result.hash = await hashSuite(100, 3, log);
  if (suites.includes('stats')) result.stats = statsCostSuite(log);
  if (suites.includes('signing')) result.signing = await signingSuite(params.get('modelServer')!, Number(params.get('reps') ?? 5) * 2 + 1, log);
  // transformers.js is loaded only for its suite (it is a dev dependency, and a large module).
  if (suites.includes('transformers')) result.transformers = await (await import('./transformers.js')).transformersSuite(params.get('modelServer')!, Number(params.get('reps') ?? 5) * 2, log);
  if (suites.includes('variants')) result.variants = await variantsSuite(params.get('modelServer')!, (params.get('backends') ?? 'wasm,webgpu').split(',') as Backend[], log);
  if (suites.includes('reload')) result.reload = await reloadSuite(params.get('modelServer')!, Number(params.get('reps') ?? 5), log);
  if (suites.includes('decode')) result.decode = await decodeSuite(params.get('modelServer')!, (params.get('backends') ?? 'wasm,webgpu').split(',') as Backend[], log);
  return result;
}

main().then(
  (result) => (window.benchResult = result),
  (error: unknown) => (window.benchResult = { error: String((error as Error)?.stack ?? error) }),
);

/** @file One model host per cache directory: the browser's host, on the disk cache, onnxruntime-node and TF.js's CPU backend. */
import { mkdir } from 'node:fs/promises';
import { createModelHost, type ModelHost } from '../pipeline/host.js';
import type { Runtimes } from '../runtime/runtimes.js';
import { tfjsRuntime } from '../runtime/tfjs/adapter.js';
import type { CacheStore } from '../cache/store.js';
import { diskEstimate } from './cache-dir.js';
import { diskCacheStore } from './disk-store.js';
import { fileAwareFetch } from './file-fetch.js';
import { onnxNodeRuntime } from './onnx-node.js';
import { timedFetch } from './timed-fetch.js';

/** TF.js in Node runs on its plain JavaScript CPU backend (see docs/decisions.md). */
export const nodeRuntimes: Runtimes = { onnx: onnxNodeRuntime, 'tfjs-layers': tfjsRuntime('layers', ['cpu']), 'tfjs-graph': tfjsRuntime('graph', ['cpu']) };

const stores = new Map<string, CacheStore>();
const hosts = new Map<string, ModelHost>();

/** The disk cache at `dir`, one per directory and process. */
export function diskStore(dir: string): CacheStore {
  if (!stores.has(dir)) stores.set(dir, diskCacheStore(dir));
  return stores.get(dir)!;
}

/** The host for the cache at `dir` whose requests to the model host wait at most `timeoutMs` (one per pair, sharing the dir's store). */
export async function nodeHost(dir: string, timeoutMs: number): Promise<ModelHost> {
  const key = `${timeoutMs} ${dir}`;
  if (!hosts.has(key)) {
    await mkdir(dir, { recursive: true });
    const store = diskStore(dir);
    const fetch = fileAwareFetch(timedFetch(globalThis.fetch.bind(globalThis), timeoutMs));
    hosts.set(key, createModelHost({ runtimes: nodeRuntimes, fetch, store: () => store, estimate: diskEstimate(dir, () => store), threads: () => 1 }));
  }
  return hosts.get(key)!;
}

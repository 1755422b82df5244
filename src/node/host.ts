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

/** TF.js in Node runs on its plain JavaScript CPU backend (see docs/decisions.md). */
export const nodeRuntimes: Runtimes = { onnx: onnxNodeRuntime, 'tfjs-layers': tfjsRuntime('layers', ['cpu']), 'tfjs-graph': tfjsRuntime('graph', ['cpu']) };

const stores = new Map<string, CacheStore>();
const hosts = new Map<string, ModelHost>();

/** The disk cache at `dir`, one per directory and process. */
export function diskStore(dir: string): CacheStore {
  if (!stores.has(dir)) stores.set(dir, diskCacheStore(dir));
  return stores.get(dir)!;
}

export async function nodeHost(dir: string): Promise<ModelHost> {
  if (!hosts.has(dir)) {
    await mkdir(dir, { recursive: true });
    const store = diskStore(dir);
    hosts.set(dir, createModelHost({ runtimes: nodeRuntimes, fetch: fileAwareFetch(), store: () => store, estimate: diskEstimate(dir, () => store), threads: () => 1 }));
  }
  return hosts.get(dir)!;
}

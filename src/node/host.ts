/** @file One model host per cache directory: the browser's host, on the disk cache, onnxruntime-node and TF.js's CPU backend. */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createModelHost, type ModelHost } from '../pipeline/host.js';
import type { Runtimes } from '../runtime/runtimes.js';
import { tfjsRuntime } from '../runtime/tfjs/adapter.js';
import type { CacheStore } from '../cache/store.js';
import { diskEstimate } from './cache-dir.js';
import { diskCacheStore, readOnlyStore } from './disk-store.js';
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

/** How the cache at a directory can be used: written, only read (a read-only file system), or not at all. */
export type CacheMode = 'read-write' | 'read-only' | 'uncached';

const READ_ONLY = new Set(['EROFS', 'EACCES', 'EPERM', 'ENOENT']);

/**
 * Tries a write in `dir`. A directory that cannot be written serves from what it holds (`read-only`),
 * or, holding no model, the model runs uncached (downloaded into memory at every start).
 */
export async function cacheMode(dir: string): Promise<CacheMode> {
  try {
    await mkdir(join(dir, 'tmp'), { recursive: true });
    const probe = join(dir, 'tmp', `${process.pid}-${randomBytes(8).toString('hex')}.probe`);
    await writeFile(probe, '', { flag: 'wx' });
    await rm(probe, { force: true });
    return 'read-write';
  } catch (error) {
    if (!READ_ONLY.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
    const models = await readdir(join(dir, 'index', 'models')).catch(() => [] as string[]);
    return models.some((n) => n.endsWith('.json')) ? 'read-only' : 'uncached';
  }
}

/** The host for the cache at `dir` whose requests to the model host wait at most `timeoutMs` (one per pair, sharing the dir's store). */
export async function nodeHost(dir: string, timeoutMs: number): Promise<ModelHost> {
  const key = `${timeoutMs} ${dir}`;
  if (!hosts.has(key)) {
    const mode = await cacheMode(dir);
    const store = mode === 'read-write' ? diskStore(dir) : mode === 'read-only' ? readOnlyStore(diskStore(dir), dir) : undefined;
    const fetch = fileAwareFetch(timedFetch(globalThis.fetch.bind(globalThis), timeoutMs));
    const estimate = store && diskEstimate(dir, () => store);
    hosts.set(key, createModelHost({ runtimes: nodeRuntimes, fetch, store: () => store, ...(estimate && { estimate }), threads: () => 1 }));
  }
  return hosts.get(key)!;
}

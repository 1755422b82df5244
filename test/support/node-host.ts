/** @file For the Node entry's tests: the model server and fault proxy started in-process, a live host on it, and the digits references. */
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { loadModel, type Model, type NodeLoadOptions } from '../../src/node/index.js';
import { digitsTestSet, referenceLogits } from './digits.mjs';
import { startFaultProxy } from './fault-proxy.mjs';
import { startModelServer } from './model-server.mjs';

export interface ManifestJson {
  version: string;
  revoked?: string[];
  variants: Record<string, { files: Array<{ path: string; size: number; sha256: string }> }>;
  [key: string]: unknown;
}

export interface Servers {
  server: string;
  proxy: string;
  references: Record<'1.0.0' | '1.1.0', number[]>;
  close(): Promise<void>;
}

export async function startServers(): Promise<Servers> {
  const model = await startModelServer();
  const proxy = await startFaultProxy(model.url);
  const [v1, v2] = await Promise.all([referenceLogits('release'), referenceLogits('next')]);
  return {
    server: model.url,
    proxy: proxy.url,
    references: { '1.0.0': v1.logits, '1.1.0': v2.logits },
    close: async () => {
      await proxy.close();
      await model.close();
    },
  };
}

let count = 0;

/** A manifest host the test controls (the model server's `/live/<id>/`), reached directly or through the proxy. */
export class LiveHost {
  readonly id = `n${process.pid}x${Date.now().toString(36)}${count++}`;
  readonly url: string;
  constructor(
    readonly server: string,
    via: string = server,
  ) {
    this.url = `${via}/live/${this.id}/manifest.json`;
  }
  async publish(manifest: ManifestJson): Promise<void> {
    await fetch(`${this.server}/__live/${this.id}/manifest.json`, { method: 'PUT', body: JSON.stringify(manifest) });
  }
  /** Another JSON file the host serves beside the manifest (e.g. a per-version manifest). */
  async publishJson(name: string, json: unknown): Promise<void> {
    await fetch(`${this.server}/__live/${this.id}/${name}`, { method: 'PUT', body: JSON.stringify(json) });
  }
  async swap(map: Record<string, string>): Promise<void> {
    await fetch(`${this.server}/__live/${this.id}/swap`, { method: 'PUT', body: JSON.stringify(map) });
  }
  async down(isDown: boolean): Promise<void> {
    await fetch(`${this.server}/__live/${this.id}/down`, { method: 'PUT', body: String(isDown) });
  }
  async requests(): Promise<Array<{ path: string; status: number; completed: boolean }>> {
    const all = (await (await fetch(`${this.server}/__requests`)).json()) as Array<{ path: string; status: number; completed: boolean }>;
    return all.filter((r) => r.path.startsWith(`/live/${this.id}/`));
  }
  async count(file: string): Promise<number> {
    return (await this.requests()).filter((r) => r.path === `/live/${this.id}/${file}`).length;
  }
}

/** A digits release's manifest, fp32 only (the tests tell releases apart by their fp32 numbers). */
export async function release(which: 'release' | 'next'): Promise<ManifestJson> {
  const manifest = JSON.parse(await readFile(new URL(`../../models/digits/${which}/manifest.json`, import.meta.url), 'utf8')) as ManifestJson;
  return { ...manifest, variants: { fp32: manifest.variants['fp32']! } };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = a.length === b.length ? 0 : Number.POSITIVE_INFINITY;
  for (let i = 0; i < Math.min(a.length, b.length); i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** Which release a model runs, by its numbers on the first ten test images. */
export async function whichRelease(model: Model, references: Servers['references']): Promise<'1.0.0' | '1.1.0' | 'neither'> {
  const { images } = digitsTestSet();
  const out = await model.run({ image: { type: 'float32', data: images.slice(0, 640), dims: [10, 1, 8, 8] } });
  const logits = out['logits']!.data as Float32Array;
  if (maxAbsDiff(logits, references['1.0.0'].slice(0, 100)) <= 1e-5) return '1.0.0';
  if (maxAbsDiff(logits, references['1.1.0'].slice(0, 100)) <= 1e-5) return '1.1.0';
  return 'neither';
}

export async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The setup most Node entry test files share: the servers for the file, a fresh cache directory for
 * each test, and `load`, which loads into it and disposes what it loaded when the test ends.
 * Call it at a test file's top level.
 */
export function nodeSuite(prefix: string): { readonly servers: Servers; readonly cacheDir: string; load: (url: string, options?: NodeLoadOptions) => Promise<Model>; disposeAll: () => Promise<void> } {
  let servers: Servers | undefined;
  let cacheDir = '';
  const models: Model[] = [];
  beforeAll(async () => {
    servers = await startServers();
  });
  afterAll(async () => {
    await servers?.close();
  });
  const disposeAll = async () => {
    for (const m of models.splice(0)) await m.dispose();
  };
  beforeEach(() => {
    cacheDir = mkdtempSync(join(tmpdir(), `ondevice-${prefix}-`));
    return async () => {
      await disposeAll();
      rmSync(cacheDir, { recursive: true, force: true });
    };
  });
  return {
    get servers() {
      if (!servers) throw new Error('nodeSuite: the servers start in beforeAll');
      return servers;
    },
    get cacheDir() {
      return cacheDir;
    },
    load: async (url, options = {}) => {
      const model = await loadModel(url, { cacheDir, ...options });
      models.push(model);
      return model;
    },
    disposeAll,
  };
}

/** @file A live model host for update tests: publish a manifest, swap a file's bytes, take the host down; count its requests. */
import { inject } from 'vitest';
import type { Model } from '../../src/index.js';
import { digitsTestSet, maxAbsDiff, server } from './helpers.js';

export type ManifestJson = {
  version: string;
  revoked?: string[];
  variants: { fp32: { files: Array<{ path: string; size: number; sha256: string }> } };
  [key: string]: unknown;
};

export interface Request {
  method: string;
  path: string;
  status: number;
  bytes: number;
  completed: boolean;
}

let count = 0;

/** The published manifest with its fp32 variant only: the cache tests tell releases apart by fp32 numbers. */
export async function release(which: 'release' | 'next'): Promise<ManifestJson> {
  return onnxDigits.release(which);
}

/** The variant's first file (for a TF.js model, its model.json). */
export function fileOf(manifest: ManifestJson): string {
  return manifest.variants.fp32.files[0]!.path;
}

/** Bytes of the fp32 variant, all files. */
export function bytesOf(manifest: ManifestJson): number {
  return manifest.variants.fp32.files.reduce((n, f) => n + f.size, 0);
}

/** A model with two published releases (1.0.0 and 1.1.0), for the tests that run for every runtime. */
export interface Subject {
  label: string;
  /** The manifest's `name`. */
  name: string;
  release(which: 'release' | 'next'): Promise<ManifestJson>;
  /** Which release a model runs, told by its numbers on the first ten test images. */
  whichRelease(model: Model): Promise<'1.0.0' | '1.1.0' | 'neither'>;
}

function subject(label: string, name: string, folders: Record<'release' | 'next', string>, dims: number[], references: Record<'1.0.0' | '1.1.0', number[]>): Subject {
  return {
    label,
    name,
    async release(which) {
      const manifest = (await (await fetch(`${server}/${folders[which]}/manifest.json`)).json()) as ManifestJson;
      return { ...manifest, variants: { fp32: manifest.variants.fp32 } };
    },
    async whichRelease(model) {
      const { images } = await digitsTestSet();
      const out = await model.run({ image: { type: 'float32', data: images.slice(0, 640), dims: [10, ...dims] } });
      const logits = out['logits']!.data as Float32Array;
      if (maxAbsDiff(logits, references['1.0.0'].slice(0, 100)) <= 1e-4) return '1.0.0';
      if (maxAbsDiff(logits, references['1.1.0'].slice(0, 100)) <= 1e-4) return '1.1.0';
      return 'neither';
    },
  };
}

/** The ONNX digits CNN (models/digits), against onnxruntime-node. */
export const onnxDigits = subject('onnx', 'digits', { release: 'digits/release', next: 'digits/next' }, [1, 8, 8], {
  '1.0.0': inject('referenceLogits').logits,
  '1.1.0': inject('nextReferenceLogits').logits,
});

/** The TF.js layers digits CNN (models/digits-tfjs), against TF.js's CPU result in Node. */
export const tfjsDigits = subject('tfjs-layers', 'digits-layers', { release: 'digits-tfjs/layers', next: 'digits-tfjs/layers-next' }, [8, 8, 1], {
  '1.0.0': inject('tfjsReferences').layers.logits,
  '1.1.0': inject('tfjsReferences')['layers-next'].logits,
});

export class LiveHost {
  readonly id = `h${Date.now().toString(36)}${count++}`;
  readonly base: string;
  readonly url: string;

  /** @param via the origin the app loads from: the model server itself, or the fault proxy in front of it. */
  constructor(via: string = server) {
    this.base = `${via}/live/${this.id}/`;
    this.url = `${this.base}manifest.json`;
  }

  async publish(manifest: ManifestJson): Promise<void> {
    await fetch(`${server}/__live/${this.id}/manifest.json`, { method: 'PUT', body: JSON.stringify(manifest) });
  }

  /** Serves `json` as `name` (e.g. a per-version manifest, `manifest.1.0.0.json`). */
  async put(name: string, json: unknown): Promise<void> {
    await fetch(`${server}/__live/${this.id}/${name}`, { method: 'PUT', body: JSON.stringify(json) });
  }

  /** Serve `served`'s bytes when `name` is asked for. */
  async swap(map: Record<string, string>): Promise<void> {
    await fetch(`${server}/__live/${this.id}/swap`, { method: 'PUT', body: JSON.stringify(map) });
  }

  async down(isDown: boolean): Promise<void> {
    await fetch(`${server}/__live/${this.id}/down`, { method: 'PUT', body: String(isDown) });
  }

  async requests(): Promise<Request[]> {
    const all = (await (await fetch(`${server}/__requests`)).json()) as Request[];
    return all.filter((r) => r.path.startsWith(`/live/${this.id}/`));
  }

  async count(file: string): Promise<number> {
    return (await this.requests()).filter((r) => r.path === `/live/${this.id}/${file}`).length;
  }
}

/** Polls until `check` is true (the background update check runs after loadModel resolves). */
export async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

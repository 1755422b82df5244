/** @file A live model host for update tests: publish a manifest, swap a file's bytes, take the host down; count its requests. */
import { server } from './helpers.js';

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
  const manifest = (await (await fetch(`${server}/digits/${which}/manifest.json`)).json()) as ManifestJson;
  return { ...manifest, variants: { fp32: manifest.variants.fp32 } };
}

export function fileOf(manifest: ManifestJson): string {
  return manifest.variants.fp32.files[0]!.path;
}

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

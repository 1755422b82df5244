/**
 * @file Which of the library's workers a load should start in: the runtime family this page last saw
 * for the URL, else the one the device's cache records for it, else `'resolve'` (a worker with no
 * runtime, which fetches the manifest and hands it over). So no app downloads a runtime it does not use.
 */
import type { RuntimeName } from '../manifest/types.js';
import { RUNTIMES } from '../manifest/types.js';
import { versionOf } from '../cache/records.js';
import { defaultCacheStore } from '../cache/store.js';
import { familyOf, type RuntimeFamily } from '../runtime/runtimes.js';

const seen = new Map<string, RuntimeFamily>();

export function rememberFamily(url: string, runtime: RuntimeName): void {
  seen.set(url, familyOf(runtime));
}

export async function familyHint(url: string): Promise<RuntimeFamily | 'resolve'> {
  const known = seen.get(url);
  if (known) return known;
  // A bare model URL is an ONNX file.
  if (/\.onnx$/i.test(new URL(url).pathname)) return 'onnx';
  if (typeof indexedDB === 'undefined') return 'resolve';
  const record = await defaultCacheStore()
    .getModel(url)
    .catch(() => undefined);
  if (!record || record.active === null) return 'resolve';
  if (record.kind === 'file') return 'onnx';
  const runtime = (versionOf(record, record.active)?.manifest as { runtime?: unknown } | undefined)?.runtime;
  return RUNTIMES.includes(runtime as RuntimeName) ? familyOf(runtime as RuntimeName) : 'resolve';
}

/**
 * @file The cache side of resolving: a cached version read back (checked while the session is
 * built), the record read, and what happens after a start: the previous version dropped, or rolled
 * back to.
 */
import { revoke, type CachedVersion, type ModelRecord } from '../cache/records.js';
import { collectGarbage } from '../cache/gc.js';
import { CacheMiss, readCachedFiles, type FetchedFiles } from '../cache/version-files.js';
import { parseManifest } from '../manifest/parse.js';
import type { Manifest } from '../manifest/types.js';
import { parseRange } from '../update/semver.js';
import { usableCached } from '../update/versions.js';
import type { Resolved, ResolveContext, UpdateRules } from './resolve-types.js';

/** The version a cache-only load would run now, read from the record alone. */
export async function cachedVersion(url: string, rules: UpdateRules, context: ResolveContext): Promise<string | undefined> {
  const range = rules.version === undefined ? undefined : parseRange(rules.version);
  return usableCached(await readRecord(url, context), range)?.version;
}

/** Reads a cached version; a missing or altered file drops the version, so that the next resolve downloads it. */
export async function fromCache(record: ModelRecord, version: CachedVersion, context: ResolveContext, anyVariant = false): Promise<Resolved | undefined> {
  const store = context.store;
  if (!store) return undefined;
  const base = record.url;
  const manifest = version.manifest === undefined ? undefined : parseManifest(version.manifest, base);
  const choice = manifest ? context.choose(manifest) : { variant: version.variant, fallbacks: [] };
  // The device wants another variant of this version now (another backend, or the app asked): a miss.
  if (!anyVariant && choice.variant !== version.variant) return undefined;
  const drop = () =>
    store.updateModel(record.url, (r) => r && { ...r, versions: Object.fromEntries(Object.entries(r.versions).filter(([v]) => v !== version.version)), active: r.active === version.version ? null : r.active, previous: r.previous === version.version ? null : r.previous });
  const wanted = version.files.map((f) => ({ ...f, url: new URL(f.path, base).href }));
  let cached;
  try {
    cached = await readCachedFiles(wanted, context);
  } catch (error) {
    if (!(error instanceof CacheMiss)) throw error;
    await drop();
    return undefined;
  }
  const verified = cached.verified.catch(async (error: unknown) => {
    await drop();
    throw error;
  });
  verified.catch(() => undefined);
  void store.updateModel(record.url, (r) => r && { ...r, lastUsed: Date.now() }).catch(() => undefined);
  const fallbacks = choice.variant === version.variant ? choice.fallbacks : [];
  return { ...source(record.url, record.name, version.version, version.variant, manifest, cached), verified, keepsPrevious: record.previous !== null, variantFallbacks: fallbacks };
}

export function source(url: string, name: string, version: string, variant: string | null, manifest: Manifest | undefined, fetched: FetchedFiles): Resolved {
  // Downloaded files were verified before they were stored or returned.
  return { url, name, version, variant, manifest, files: fetched.files, fromCache: fetched.fromCache, verified: Promise.resolve(), keepsPrevious: true, variantFallbacks: [], asked: false };
}

export async function readRecord(url: string, context: ResolveContext): Promise<ModelRecord | undefined> {
  if (!context.store) return undefined;
  try {
    return await context.store.getModel(url);
  } catch {
    // IndexedDB is unusable here (private mode, a broken database): run without a cache.
    context.store = undefined;
    return undefined;
  }
}

/**
 * The active version has started: the previous one, kept for rollback until now, is dropped and its
 * files collected.
 */
export async function confirmStarted(url: string, version: string | null, context: ResolveContext): Promise<void> {
  const store = context.store;
  if (!store || version === null) return;
  await store.updateModel(url, (r) => (r && r.active === version && r.previous !== null && r.versions[version] ? { ...r, previous: null, versions: { [version]: r.versions[version] } } : r));
  await collectGarbage(store);
}

/**
 * The version `failed` could not start on any backend: this device never starts it again (it is
 * treated as revoked here), and the previous version, if the cache has it, is returned to run.
 */
export async function rollBack(url: string, failed: string | null, rules: UpdateRules, context: ResolveContext): Promise<Resolved | undefined> {
  const store = context.store;
  if (!store || failed === null) return undefined;
  await store.updateModel(url, (r) => r && revoke(r, [failed]));
  const record = await store.getModel(url);
  const range = rules.version === undefined ? undefined : parseRange(rules.version);
  const previous = usableCached(record, range);
  return previous && record ? fromCache(record, previous, context) : undefined;
}

/**
 * @file The cache side of resolving: a cached version read back (checked while the session is
 * built), the record read, and what happens after a start: the start recorded and the previous
 * version dropped, or, for a version whose bytes no runtime accepts, a rollback to the previous one.
 */
import { CacheMiss, readCachedFiles, readSmallCachedFiles, type FetchedFiles } from '../cache/files.js';
import { collectGarbage } from '../cache/gc.js';
import { ban, liftBans, pruneTuning, versionOf, type CachedVersion, type ModelRecord } from '../cache/records.js';
import { parseManifest } from '../manifest/parse.js';
import type { Manifest } from '../manifest/types.js';
import { parseRange } from '../manifest/semver.js';
import { checkSignature } from './trust.js';
import { usableCached } from './versions.js';
import { isOndeviceError } from '../errors.js';
import type { Resolved, ResolveContext, UpdateRules } from './resolve-types.js';

/** The version a cache-only load would run now, read from the record alone. */
export async function cachedVersion(url: string, rules: UpdateRules, context: ResolveContext): Promise<string | undefined> {
  const range = rules.version === undefined ? undefined : parseRange(rules.version);
  return usableCached(await readRecord(url, context), range)?.version;
}

/** Drops one version from a record (its files are collected if nothing else uses them). */
function withoutVersion(record: ModelRecord, version: string): ModelRecord {
  const versions = Object.fromEntries(Object.entries(record.versions).filter(([v]) => v !== version));
  return { ...record, versions, active: record.active === version ? null : record.active, previous: record.previous === version ? null : record.previous };
}

/**
 * Reads a cached version. A missing file, or one whose bytes hash wrong, drops the version so that
 * the next resolve downloads it; a failure that says nothing about the bytes leaves it in place.
 */
export async function readCachedVersion(record: ModelRecord, version: CachedVersion, context: ResolveContext, anyVariant = false): Promise<Resolved | undefined> {
  const store = context.store;
  if (!store) return undefined;
  const base = record.url;
  if (context.publicKeys) {
    // The cached manifest is checked again (storage can be altered too): one that fails is a miss,
    // so the host is asked; the files, checked against its hashes, are reused if they are right.
    if (version.manifest === undefined) return undefined;
    try {
      await checkSignature(version.manifest, base, context.publicKeys);
    } catch (error) {
      if (isOndeviceError(error, 'SIGNATURE_INVALID')) return undefined;
      throw error;
    }
  }
  const manifest = version.manifest === undefined ? undefined : parseManifest(version.manifest, base);
  // A version is its variant's files and then its assets; one stored without its assets (by a library
  // that did not know them) is not the whole release: a miss, so the host is asked.
  if (manifest && version.variant !== null && version.files.length !== (manifest.variants[version.variant]?.files.length ?? -1) + manifest.assets.length) return undefined;
  const drop = () => store.updateModel(record.url, (r) => r && withoutVersion(r, version.version));
  const wanted = version.files.map((f) => ({ ...f, url: new URL(f.path, base).href }));
  // The files are read while the device is probed (the variant is chosen with the backend): the
  // variant this device ran last time is the one it almost always runs again.
  const reading = context.lazyAbove === undefined ? readCachedFiles(wanted, context) : readSmallCachedFiles(wanted, context.lazyAbove, context);
  reading.then((c) => c.verified).catch(() => undefined);
  const choice = manifest ? await context.choose(manifest) : { variant: version.variant, fallbacks: [] };
  // The device wants another variant of this version now (another backend, or the app asked): a miss.
  if (!anyVariant && choice.variant !== version.variant) return undefined;
  let cached;
  try {
    cached = await reading;
  } catch (error) {
    if (!(error instanceof CacheMiss)) throw error;
    await drop();
    return undefined;
  }
  const verified = cached.verified.catch(async (error: unknown) => {
    if (error instanceof CacheMiss) await drop();
    throw error;
  });
  verified.catch(() => undefined);
  // Off the critical path, but not forgotten: the host waits for it before the model is let go.
  const settling = store.updateModel(record.url, (r) => r && { ...r, lastUsed: Date.now() }).catch(() => undefined);
  const fallbacks = choice.variant === version.variant ? choice.fallbacks : [];
  const startedBefore = version.started === true;
  return {
    ...source(record.url, record.name, version.version, version.variant, manifest, cached),
    verified,
    settling,
    startedBefore,
    needsConfirm: !startedBefore || record.previous !== null,
    variantFallbacks: fallbacks,
  };
}

export function source(url: string, name: string, version: string, variant: string | null, manifest: Manifest | undefined, fetched: FetchedFiles): Resolved {
  // Downloaded files were verified before they were stored or returned.
  return { url, name, version, variant, manifest, files: fetched.files, fromCache: fetched.fromCache, verified: Promise.resolve(), startedBefore: false, needsConfirm: true, variantFallbacks: [], asked: false };
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
 * A session was created from `version`: the record says so (a later failure to start it is then
 * never blamed on its bytes), and if it is the active version, the previous one, kept for rollback
 * until now, is dropped and its files collected.
 */
export async function markStarted(url: string, version: string | null, context: ResolveContext): Promise<void> {
  const store = context.store;
  if (!store || version === null) return;
  await store.updateModel(url, (r) => {
    const started = versionOf(r, version);
    if (!r || !started) return r;
    const marked = { ...started, started: true };
    if (r.active === version) return pruneTuning({ ...r, previous: null, versions: Object.fromEntries([[version, marked]]) });
    return { ...r, versions: Object.fromEntries([...Object.entries(r.versions).filter(([v]) => v !== version), [version, marked]]) };
  });
  await collectGarbage(store);
}

/**
 * The bytes of `failed`, a version that has never started here, are not a model this runtime runs
 * (`MODEL_INVALID` on every backend): if the cache still keeps the version it replaced, this device
 * bans `failed` (apart from the publisher's revocations, and only while `runtime` is the runtime: an
 * upgraded one tries it again) and the previous version is returned to run. Otherwise nothing is
 * changed and `undefined` is returned: with nothing to fall back to, banning would only leave the
 * device with no model until the publisher ships a new version.
 */
export async function rollBack(url: string, failed: string | null, runtime: string, rules: UpdateRules, context: ResolveContext): Promise<Resolved | undefined> {
  const store = context.store;
  if (!store || failed === null) return undefined;
  const record = await store.getModel(url);
  const range = rules.version === undefined ? undefined : parseRange(rules.version);
  const previous = record && usableCached(ban(record, failed, runtime), range);
  if (!record || !previous || previous.version === failed) return undefined;
  await store.updateModel(url, (r) => r && ban(r, failed, runtime));
  const banned = await store.getModel(url);
  return banned ? readCachedVersion(banned, previous, context) : undefined;
}

/** A model of `url` runs on `runtime`: the bans another runtime version made are lifted. */
export async function ranOn(url: string, runtime: string | undefined, context: ResolveContext): Promise<void> {
  const store = context.store;
  if (!store || runtime === undefined) return;
  const record = await store.getModel(url);
  if (!record?.banned || liftBans(record, runtime) === record) return;
  await store.updateModel(url, (r) => r && liftBans(r, runtime));
}

/**
 * @file The update rules: which version a load runs, from the cache or the host, under each policy;
 * and the update check that downloads, verifies and activates a newer version in the background.
 */
import { storeFile, type WantedFile } from '../cache/files.js';
import { collectGarbage } from '../cache/gc.js';
import { withLock } from '../cache/locks.js';
import { ensureSpace } from '../cache/quota.js';
import { activate, emptyRecord, revoke, versionOf, type CachedVersion, type ModelRecord } from '../cache/records.js';
import { contentLength, htmlInsteadOf, isHtml, openUrl, readBody } from '../download/fetch-file.js';
import { DEFAULT_RETRY, downloadResumable } from '../download/resumable.js';
import { sha256Hex } from '../download/verify.js';
import { OndeviceError, isOndeviceError } from '../errors.js';
import { parseManifest } from '../manifest/parse.js';
import type { Manifest } from '../manifest/types.js';
import { announce } from './broadcast.js';
import { fetchManifest, readManifest, validatorOf, type FetchedManifest } from './fetch-manifest.js';
import { fetchFiles } from './fetch-version.js';
import { readCachedVersion, readRecord, source } from './from-cache.js';
import type { Resolved, ResolveContext, UpdateRules } from './resolve-types.js';
import { parseRange, type Range } from '../manifest/semver.js';
import { allowed, belowFloor, replaces, usableCached } from './versions.js';
import { checkFresh, checkSignature, revocable, rolloutState, type RolloutState } from './trust.js';

export { cachedVersion, markStarted, ranOn, rollBack } from './from-cache.js';
export type { Handoff, Resolved, ResolveContext, UpdatePolicy, UpdateRules, VariantChoice } from './resolve-types.js';

function rangeOf(rules: UpdateRules): Range | undefined {
  return rules.version === undefined ? undefined : parseRange(rules.version);
}

export async function resolveModel(url: string, rules: UpdateRules, context: ResolveContext): Promise<Resolved> {
  const range = rangeOf(rules);
  const record = await readRecord(url, context);
  const cached = usableCached(record, range);
  if (cached && rules.update !== 'blocking') {
    const hit = await readCachedVersion(record!, cached, context);
    if (hit) return hit;
  }
  try {
    const answer = await askHost(url, record, context);
    return { ...(await fromAnswer(url, answer, record, range, rules, context)), asked: true };
  } catch (error) {
    // Blocking: offline, a broken host, or a new version that cannot be had (its files fail to
    // download, verify or fit) falls back to what the device has, whatever its variant, and says why.
    if (!cached || !isOndeviceError(error) || error.code === 'ABORTED' || error.code === 'INPUT_INVALID') throw error;
    // Read again: the host may have revoked the cached version meanwhile.
    const latest = await readRecord(url, context);
    const now = usableCached(latest, range);
    const fallback = latest && now && (await readCachedVersion(latest, now, context, true));
    if (!fallback) throw error;
    return { ...fallback, asked: true, updateError: error };
  }
}

export interface UpdateCheck {
  /** A verified version other than `running` is active in the cache: `reload()` switches to it. */
  available: boolean;
  version?: string;
  /** The running version has been revoked: switch away from it. */
  revoked: boolean;
}

/** One conditional request; a newer allowed version is downloaded, verified and activated. */
export async function checkForUpdate(url: string, running: string | null, rules: UpdateRules, context: ResolveContext): Promise<UpdateCheck> {
  const range = rangeOf(rules);
  let record = await readRecord(url, context);
  const answer = await askHost(url, record, context);
  record = await remember(url, answer, record, context);
  // A device outside a staged rollout keeps what it runs, or moves up to the rollout's previous.
  const outside = answer.kind === 'manifest' && (await rolloutState(answer.fetched.manifest, context.store))?.included === false;
  let target = answer.kind === 'unchanged' ? record.active : answer.version;
  let from: HostAnswer = answer;
  if (outside && answer.kind === 'manifest') {
    const previous = answer.fetched.manifest.rollout!.previous;
    target = movesUpTo(previous, record.active, record, range) ? previous : record.active;
    if (target === previous && !versionOf(record, previous)) from = await previousAnswer(url, answer, record, context);
  }
  if (target !== null && allowed(target, record, [], range) && replaces(target, record.active, record, range) && !versionOf(record, target)) {
    await download(url, from, target, rules, context);
    record = (await readRecord(url, context)) ?? record;
  }
  const active = record.active;
  const revoked = running !== null && record.revoked.includes(running);
  return active !== null && active !== running ? { available: true, version: active, revoked } : { available: false, revoked };
}

/**
 * A manifest is bound to its model: the name of the model this device holds for the URL (a key that
 * signs several models must not move a device from one to another, nor revoke one's versions with
 * the other's list).
 */
function checkBound(manifest: Manifest, record: ModelRecord | undefined, url: string): void {
  if (!record || record.kind !== 'manifest' || record.name === manifest.name) return;
  throw new OndeviceError('MANIFEST_INVALID', `The manifest ${url} is for the model "${manifest.name}", but this device holds "${record.name}" for that URL: it is not taken (nothing downloaded, nothing revoked). Publish each model at its own URL; to replace a model with another, load the new one from a new URL.`, {
    details: { url, field: 'name', expected: record.name, actual: manifest.name },
  });
}

/** What the host said: the manifest (or bare file) is unchanged, or here it is. */
type HostAnswer =
  | { kind: 'unchanged' }
  | { kind: 'manifest'; fetched: FetchedManifest; version: string }
  /** `version` is the file's ETag; `null` when it has none (it is then versioned by its SHA-256). */
  | { kind: 'file'; response: Response; version: string; etag: string | null };

async function askHost(url: string, record: ModelRecord | undefined, context: ResolveContext): Promise<HostAnswer> {
  context.progress.emit({ phase: 'manifest', url });
  const handoff = context.handoff;
  if (handoff) {
    context.handoff = undefined;
    await checkSignature(handoff.json, url, context.publicKeys);
    return fetched({ manifest: parseManifest(handoff.json, url), ...handoff }, record, context, url);
  }
  const isManifest = record ? record.kind === 'manifest' : new URL(url).pathname.endsWith('.json');
  if (isManifest) return fetched(await fetchManifest(url, context.fetch, context.signal, context.publicKeys), record, context, url);
  // A bare file, or a URL whose kind one request will tell: ask conditionally, read the body only if needed.
  const headers: Record<string, string> = {};
  if (record?.validator.etag) headers['If-None-Match'] = record.validator.etag;
  const response = await openUrl(url, context.fetch, context.signal, { cache: 'no-store', headers });
  if (response.status === 304) return { kind: 'unchanged' };
  if (/\bjson\b/i.test(response.headers.get('content-type') ?? '')) {
    return fetched(await readManifest(response, url, context.signal, context.publicKeys), record, context, url);
  }
  if (context.publicKeys) {
    await response.body?.cancel().catch(() => undefined);
    throw new OndeviceError('SIGNATURE_INVALID', `${url} is a model file, not a manifest: a bare file cannot be signed. With publicKey set, load a signed release's manifest.json (ondevice publish --sign).`, { details: { url, field: '(root)' } });
  }
  const etag = response.headers.get('etag');
  // Without an ETag the version is known only from the bytes (see downloadBareFile).
  return { kind: 'file', response, version: etag ? etag.replace(/^W\//, '').replace(/"/g, '') : 'unversioned', etag };
}

function fetched(manifest: FetchedManifest, record: ModelRecord | undefined, context: ResolveContext, url: string): HostAnswer {
  // Signature first (checked as it was read), then freshness: an expired manifest is not acted on at all.
  checkFresh(manifest.manifest, url);
  checkBound(manifest.manifest, record, url);
  context.fetched = manifest;
  const same = record?.validator.etag && record.validator.etag === manifest.validator.etag && record.active === manifest.manifest.version;
  return same ? { kind: 'unchanged' } : { kind: 'manifest', fetched: manifest, version: manifest.manifest.version };
}

async function fromAnswer(url: string, answer: HostAnswer, record: ModelRecord | undefined, range: Range | undefined, rules: UpdateRules, context: ResolveContext): Promise<Resolved> {
  const known = await remember(url, answer, record, context);
  const cached = usableCached(known, range);
  if (answer.kind === 'unchanged') {
    const hit = cached && (await readCachedVersion(known, cached, context));
    if (hit) return hit;
    // The host says nothing changed but our copy is gone: ask again for the whole answer.
    return fromAnswer(url, await askHost(url, undefined, context), known, range, rules, context);
  }
  if (!allowed(answer.version, known, [], range)) {
    const hit = cached && (await readCachedVersion(known, cached, context));
    if (hit) return hit;
    const why = known.revoked.includes(answer.version) ? 'is revoked' : belowFloor(answer.version, known) ? `is below ${known.highest}, which this device already ran (a replayed or stale manifest is not taken)` : `is outside the accepted range "${rules.version}"`;
    throw new OndeviceError('VERSION_UNAVAILABLE', `The host's current version ${answer.version} of ${url} ${why}, and the device has no other version it may run.`, {
      details: { url, version: answer.version, range: rules.version ?? null, revoked: known.revoked },
    });
  }
  const rollout = answer.kind === 'manifest' ? await rolloutState(answer.fetched.manifest, context.store) : null;
  const result = rollout && !rollout.included ? await outsideRollout(url, answer, known, cached, range, rules, context) : await toVersion(url, answer, known, cached, range, rules, context);
  return rollout ? { ...result, rollout } : result;
}

async function toVersion(url: string, answer: Exclude<HostAnswer, { kind: 'unchanged' }>, known: ModelRecord, cached: CachedVersion | undefined, range: Range | undefined, rules: UpdateRules, context: ResolveContext): Promise<Resolved> {
  // Only forward: a stale manifest (an old CDN edge) naming an older version does not move the device back.
  if (cached && cached.version !== answer.version && !replaces(answer.version, cached.version, known, range)) {
    const hit = await readCachedVersion(known, cached, context);
    if (hit) return hit;
  }
  const stored = versionOf(known, answer.version);
  if (stored) {
    const hit = await readCachedVersion(known, stored, context);
    if (hit) return hit;
  }
  return download(url, answer, answer.version, rules, context);
}

/**
 * A device outside a staged rollout runs the rollout's `previous`, or the version it runs if that is
 * newer: one that runs an older version moves up to `previous`, and a new device loads it, from its
 * per-version manifest (signed like the rest, when keys are set).
 */
async function outsideRollout(url: string, answer: Exclude<HostAnswer, { kind: 'unchanged' }>, known: ModelRecord, cached: CachedVersion | undefined, range: Range | undefined, rules: UpdateRules, context: ResolveContext): Promise<Resolved> {
  if (answer.kind !== 'manifest') throw new Error('unreachable');
  const previous = answer.fetched.manifest.rollout!.previous;
  const hit = cached && !movesUpTo(previous, cached.version, known, range) && (await readCachedVersion(known, cached, context));
  if (hit) return hit;
  if (!allowed(previous, known, [], range)) {
    throw new OndeviceError('VERSION_UNAVAILABLE', `This device is outside the staged rollout of ${answer.version}, and the version before it, ${previous}, is revoked or outside the accepted range.`, { details: { url, version: previous } });
  }
  return toVersion(url, await previousAnswer(url, answer, known, context), known, undefined, range, rules, context);
}

/** Whether a device outside a rollout that runs `running` should move to the rollout's `previous`. */
function movesUpTo(previous: string, running: string | null, record: ModelRecord, range: Range | undefined): boolean {
  return running !== previous && allowed(previous, record, [], range) && replaces(previous, running, record, range);
}

/** The rollout's `previous`, as the host answers it: its per-version manifest, checked like any other. */
async function previousAnswer(url: string, answer: Extract<HostAnswer, { kind: 'manifest' }>, known: ModelRecord, context: ResolveContext): Promise<Extract<HostAnswer, { kind: 'manifest' }>> {
  const previous = answer.fetched.manifest.rollout!.previous;
  const perVersion = new URL(`manifest.${previous}.json`, url).href;
  const fetchedPrevious = await fetchManifest(perVersion, context.fetch, context.signal, context.publicKeys);
  checkBound(fetchedPrevious.manifest, known, perVersion);
  if (fetchedPrevious.manifest.version !== previous) {
    throw new OndeviceError('MANIFEST_INVALID', `The rollout's previous version ${previous} names ${perVersion}, which holds version ${fetchedPrevious.manifest.version}. Fix the release folder (ondevice rollout writes both).`, {
      details: { url, field: 'rollout.previous' },
    });
  }
  return { kind: 'manifest', fetched: { ...fetchedPrevious, validator: answer.fetched.validator }, version: previous };
}

/**
 * Downloads (or reuses by hash) every file of the version, verifies, stores, activates, collects. A
 * version is its variant's files (every graph's) and then the release's assets, in that order (see
 * pipeline/graphs.ts): it activates only when all of them are in place.
 */
async function download(url: string, answer: HostAnswer, version: string, rules: UpdateRules, context: ResolveContext): Promise<Resolved> {
  if (answer.kind === 'file') return downloadBareFile(url, answer, context);
  if (answer.kind !== 'manifest') throw new Error('unreachable');
  const { manifest, json, validator } = answer.fetched;
  const { variant, fallbacks } = await context.choose(manifest);
  const wanted: WantedFile[] = [...manifest.variants[variant]!.files, ...manifest.assets].map((f) => ({ path: f.path, url: f.url, sha256: f.sha256, size: f.size }));
  await makeRoom(url, wanted, rules, context);
  return fetchFiles(wanted, context, async (fetched) => {
    const files = wanted.map(({ path, sha256, size }) => ({ path, sha256, size }));
    await commit(url, { version, variant, manifest: json, files, storedAt: Date.now() }, manifest.name, validator, context);
    return { ...source(url, manifest.name, version, variant, manifest, fetched), variantFallbacks: fallbacks };
  });
}

async function downloadBareFile(url: string, answer: Extract<HostAnswer, { kind: 'file' }>, context: ResolveContext): Promise<Resolved> {
  const { response } = answer;
  if (isHtml(response, undefined)) throw htmlInsteadOf('model', url, response);
  const total = contentLength(response) ?? null;
  const onBytes = (received: number) => context.progress.emit({ phase: 'download', url, loaded: received, total, fileLoaded: received, fileTotal: total });
  let bytes: Uint8Array;
  let sha256: string;
  if (total !== null && total > 0) {
    // The size is known: retried and resumed like a manifest's files, hashed as it arrives.
    const got = await downloadResumable({ url, size: total, fetch: context.fetch, signal: context.signal, retry: context.retry ?? DEFAULT_RETRY, onBytes, first: response });
    ({ bytes, sha256 } = got);
  } else {
    // No Content-Length (a compressed or chunked answer): one request, read as it comes.
    bytes = await readBody(response, {
      url,
      signal: context.signal,
      onBytes,
      onFirstChunk: (chunk) => {
        if (isHtml(response, chunk)) throw htmlInsteadOf('model', url, response);
      },
    });
    sha256 = await sha256Hex(bytes);
  }
  if (bytes.length === 0) throw new OndeviceError('MODEL_INVALID', `${url} answered an empty body where the model should be.`, { details: { url } });
  const version = answer.etag === null ? `sha256-${sha256.slice(0, 16)}` : answer.version;
  const path = new URL(url).pathname.split('/').pop() || 'model.onnx';
  const name = path.replace(/\.onnx$/i, '') || 'model';
  const file = { path, url, sha256, size: bytes.length };
  const resolved: Resolved = { url, name, version, variant: null, manifest: undefined, files: [{ path, bytes }], fromCache: false, verified: Promise.resolve(), startedBefore: false, needsConfirm: true, variantFallbacks: [], asked: true };
  const record = await readRecord(url, context);
  // Identical bytes (a host without ETags sends them on every check): nothing new to activate.
  const same = versionOf(record, version);
  if (same && record?.active === version) return { ...resolved, startedBefore: same.started === true };
  await withLock(context.store, `file:${file.sha256}`, context.signal, async () => {
    await storeFile(file, bytes, context);
    const files = [{ path, sha256: file.sha256, size: file.size }];
    await commit(url, { version, variant: null, manifest: undefined, files, storedAt: Date.now() }, name, validatorOf(response), context);
  });
  return resolved;
}

async function makeRoom(url: string, wanted: readonly WantedFile[], rules: UpdateRules, context: ResolveContext): Promise<void> {
  const store = context.store;
  if (!store) return;
  const missing = await Promise.all(wanted.map(async (f) => ((await store.getFile(f.sha256).catch(() => undefined)) ? 0 : f.size)));
  const needed = missing.reduce((a, b) => a + b, 0);
  if (needed > 0) await ensureSpace(store, { needed, url, maxCacheBytes: rules.maxCacheBytes, inUse: context.inUse }, context.estimate);
}

/**
 * Activation is one IndexedDB transaction: before it, the new version does not exist for anyone. The
 * host's validator is saved with it, not before: a download that fails must be asked for again.
 */
async function commit(url: string, version: CachedVersion, name: string, validator: ModelRecord['validator'], context: ResolveContext): Promise<void> {
  const store = context.store;
  if (!store) return;
  const kind = version.variant === null ? 'file' : 'manifest';
  let revoked = false;
  await store.updateModel(url, (old) => {
    // Read in the activation's own transaction: a revocation that another tab or process recorded
    // while this version downloaded wins.
    revoked = old?.revoked.includes(version.version) === true;
    return revoked ? old : activate({ ...(old ?? emptyRecord(url, kind, name, Date.now())), name, validator, lastUsed: Date.now() }, version);
  });
  if (revoked) {
    throw new OndeviceError('VERSION_UNAVAILABLE', `Version ${version.version} of ${url} was revoked while it downloaded (another tab or process heard of it first): it is not activated.`, { details: { url, version: version.version } });
  }
  await collectGarbage(store).catch(() => undefined);
  announce({ type: 'activated', url, version: version.version });
  context.onActivated?.(version.version);
}

/**
 * The host's manifest for a version this device holds, with the same files but other bytes (signed
 * again: a new key, a new `expires`), replaces the stored one: a later start checks the signature the
 * host serves now, so an app that has since dropped the old key still starts offline. No file moves.
 */
function resigned(record: ModelRecord, answer: HostAnswer): ModelRecord {
  if (answer.kind !== 'manifest') return record;
  const held = versionOf(record, answer.version);
  if (!held || held.variant === null || JSON.stringify(held.manifest) === JSON.stringify(answer.fetched.json)) return record;
  const next = answer.fetched.manifest;
  const files = [...(next.variants[held.variant]?.files ?? []), ...next.assets];
  const same = files.length === held.files.length && files.every((f, i) => f.sha256 === held.files[i]!.sha256 && f.path === held.files[i]!.path);
  if (!same) return record;
  return { ...record, versions: { ...record.versions, [held.version]: { ...held, manifest: answer.fetched.json } } };
}

/**
 * Records what the host said: the check time, and revocations (which drop those versions; every
 * other context hears of new ones). The validator of a bare file is saved only with its version.
 */
async function remember(url: string, answer: HostAnswer, record: ModelRecord | undefined, context: ResolveContext): Promise<ModelRecord> {
  const now = Date.now();
  const kind = answer.kind === 'file' ? 'file' : answer.kind === 'manifest' ? 'manifest' : (record?.kind ?? 'manifest');
  const name = answer.kind === 'manifest' ? answer.fetched.manifest.name : (record?.name ?? url);
  const revoked = answer.kind === 'manifest' ? revocable(answer.fetched.manifest) : [];
  let seen = new Set(record?.revoked ?? []);
  let next: ModelRecord = revoke({ ...(record ?? emptyRecord(url, kind, name, now)), lastChecked: now }, revoked);
  if (context.store) {
    const store = context.store;
    try {
      await store.updateModel(url, (stored) => {
        // A record that existed when this check began and is gone now was removed (modelCache.remove
        // or clear, eviction) meanwhile: it stays removed. Only a first load creates one.
        if (!stored && record) return undefined;
        // What this device had seen revoked, read in the same transaction that adds the new ones.
        seen = new Set(stored?.revoked ?? []);
        return revoke(resigned({ ...(stored ?? next), lastChecked: now }, answer), revoked);
      });
      next = (await store.getModel(url)) ?? next;
      await collectGarbage(store).catch(() => undefined);
    } catch {
      context.store = undefined;
    }
  }
  const fresh = revoked.filter((v) => !seen.has(v));
  if (fresh.length > 0) {
    announce({ type: 'revoked', url, versions: fresh });
    context.onRevoked?.(fresh);
  }
  return next;
}

/** @file What the cache remembers about models and files, and the pure rules over it: activation and what to keep. */
import { compareVersionStrings } from '../manifest/semver.js';

/** A file of a cached version, content-addressed. */
export interface FileRef {
  path: string;
  sha256: string;
  size: number;
}

export interface CachedVersion {
  version: string;
  variant: string | null;
  /** The manifest JSON this version came from (`undefined` for a bare model URL). */
  manifest: unknown;
  files: FileRef[];
  storedAt: number;
  /** A session has been created from this version on this device (a later failure to start it is not its bytes' fault). */
  started?: boolean;
}

/** The HTTP validator of the manifest (or bare model file) last seen. */
export interface Validator {
  etag: string | null;
  lastModified: string | null;
}

export interface ModelRecord {
  /** The URL the app named: a manifest, or a bare model file. */
  url: string;
  name: string;
  kind: 'manifest' | 'file';
  /** Complete, verified versions only: every file is stored and hashed right. */
  versions: Record<string, CachedVersion>;
  active: string | null;
  previous: string | null;
  validator: Validator;
  lastChecked: number | null;
  lastUsed: number;
  /** Every version any manifest of this model has revoked: never started again. */
  revoked: string[];
  /**
   * The highest version ever activated here (manifests only): the no-downgrade floor. With `revoked`,
   * it outlives `modelCache.remove()` and eviction (see `tombstone`).
   */
  highest?: string;
  /**
   * Versions this device found no runtime here can run (`MODEL_INVALID` on every backend), each with
   * the runtime that said so. Apart from `revoked` (the publisher's word): a ban is lifted once a
   * model of this URL runs on another runtime version, which may run it.
   */
  banned?: Array<{ version: string; runtime: string }>;
  /** What is left of a removed or evicted model: no versions, only what the device learnt (`revoked`, `highest`, `name`). */
  removed?: true;
  /** `backend: 'fastest'` choices, by version, variant and device (see pipeline/fastest.ts). */
  tuning?: Record<string, Tuned>;
  /** Session starts by `version|variant|backend`: running now, or how many never finished (see pipeline/crash-guard.ts). */
  compiling?: Record<string, CompileMark>;
}

/** A start's mark (see pipeline/crash-guard.ts): running now, or how many starts never finished; when, and in which browser and library. */
export interface CompileMark {
  running: boolean;
  unfinished: number;
  /** When the running start began (or the last unfinished one was counted). */
  since?: number;
  /** The browser and library the unfinished starts happened in: another one is a fresh chance. */
  env?: string;
}

/** A backend chosen by measuring, and what each backend measured (median ms a run). */
export interface Tuned {
  backend: string;
  measured: Record<string, number>;
}

/** A stored file; written after its bytes are durable, so its presence means they are all there. */
export interface FileRecord {
  sha256: string;
  size: number;
  /** The byte store that holds it; absent in records from before OPFS: IndexedDB. */
  store?: 'opfs' | 'disk';
  /** IndexedDB chunks: their size and count. */
  chunkSize?: number;
  chunks?: number;
  storedAt: number;
  /** xxh64 of the bytes, taken when they were stored (after their SHA-256 held); records from before it have none. */
  xxh64?: string;
}

/**
 * The cached version `version` of a record, if it holds one. Version names come from the network (a
 * bare file's ETag among them), so an inherited name such as `__proto__` must never match.
 */
export function versionOf(record: ModelRecord | undefined, version: string | null): CachedVersion | undefined {
  if (!record || version === null || !Object.hasOwn(record.versions, version)) return undefined;
  return record.versions[version];
}

export function emptyRecord(url: string, kind: ModelRecord['kind'], name: string, now: number): ModelRecord {
  return { url, name, kind, versions: {}, active: null, previous: null, validator: { etag: null, lastModified: null }, lastChecked: null, lastUsed: now, revoked: [] };
}

/**
 * Makes `version` the active one; the one it replaces becomes `previous` (kept for rollback);
 * any other version is dropped from the record (its files are collected if nothing else uses them).
 */
export function activate(record: ModelRecord, version: CachedVersion): ModelRecord {
  // Checked here, inside the activation's transaction: another tab or process may have recorded the
  // revocation while this version downloaded.
  if (record.revoked.includes(version.version)) return record;
  const { removed: _removed, ...live } = record;
  const highest = record.kind === 'manifest' && (record.highest === undefined || compareVersionStrings(version.version, record.highest) > 0) ? version.version : record.highest;
  record = { ...live, ...(highest !== undefined && { highest }) };
  const replaced = record.active !== null && record.active !== version.version ? record.active : record.previous;
  const keep = new Set([version.version, replaced].filter((v): v is string => v !== null && !record.revoked.includes(v)));
  const all = [...Object.entries(record.versions).filter(([key]) => key !== version.version), [version.version, version] as const];
  // fromEntries defines own properties: a hostile name is a key like any other.
  const versions: Record<string, CachedVersion> = Object.fromEntries(all.filter(([key]) => keep.has(key)));
  return { ...record, versions, active: version.version, previous: replaced !== null && keep.has(replaced) ? replaced : null };
}

/**
 * What a removed or evicted model leaves behind: no versions and no bytes, only what the device learnt
 * (its name, the versions revoked, the highest version it ran), so a replayed old manifest cannot
 * bring back a revoked or older version. `modelCache.clear()` forgets these too.
 */
export function tombstone(record: ModelRecord): ModelRecord {
  return { ...emptyRecord(record.url, record.kind, record.name, record.lastUsed), revoked: record.revoked, ...(record.highest !== undefined && { highest: record.highest }), removed: true };
}

/** Bans `version` on `runtime`: not started again here while that runtime is the one that runs. */
export function ban(record: ModelRecord, version: string, runtime: string): ModelRecord {
  const others = (record.banned ?? []).filter((b) => b.version !== version);
  return { ...record, banned: [...others, { version, runtime }] };
}

/**
 * Lifts the bans that another version of the same runtime made (`onnxruntime-web 1.29.0` when
 * `onnxruntime-web 1.30.0` runs): this one may run those versions. Bans by another runtime, or by
 * the library's own checks, stay.
 */
export function liftBans(record: ModelRecord, runtime: string): ModelRecord {
  const name = (r: string) => r.split(' ')[0];
  const kept = (record.banned ?? []).filter((b) => name(b.runtime) !== name(runtime) || b.runtime === runtime);
  if (kept.length === (record.banned ?? []).length) return record;
  const { banned: _banned, ...rest } = record;
  return kept.length > 0 ? { ...rest, banned: kept } : rest;
}

/** Drops the `backend: 'fastest'` choices of versions the record no longer keeps. */
export function pruneTuning(record: ModelRecord): ModelRecord {
  if (!record.tuning) return record;
  return { ...record, tuning: Object.fromEntries(Object.entries(record.tuning).filter(([key]) => versionOf(record, key.split('|')[0] ?? null))) };
}

/** Adds revoked versions; a revoked active or previous version is dropped, so it can never start. */
export function revoke(record: ModelRecord, revoked: readonly string[]): ModelRecord {
  const all = [...new Set([...record.revoked, ...revoked])];
  if (all.length === record.revoked.length) return record;
  const versions = Object.fromEntries(Object.entries(record.versions).filter(([v]) => !all.includes(v)));
  const active = record.active !== null && all.includes(record.active) ? null : record.active;
  const previous = record.previous !== null && all.includes(record.previous) ? null : record.previous;
  return { ...record, revoked: all, versions, active, previous };
}

/** Every file hash that some model's kept version refers to. */
export function referencedFiles(records: readonly ModelRecord[]): Set<string> {
  const hashes = new Set<string>();
  for (const record of records) for (const version of Object.values(record.versions)) for (const file of version.files) hashes.add(file.sha256);
  return hashes;
}

/** Bytes a record holds on its own (files shared with other kept models count for each). */
export function recordBytes(record: ModelRecord): number {
  const seen = new Map<string, number>();
  for (const version of Object.values(record.versions)) for (const file of version.files) seen.set(file.sha256, file.size);
  return [...seen.values()].reduce((a, b) => a + b, 0);
}

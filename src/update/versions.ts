/** @file Which version may run: never a revoked one, never one outside the app's range; newer wins. */
import { versionOf, type CachedVersion, type ModelRecord } from '../cache/records.js';
import { compareVersionStrings, satisfies, type Range } from '../manifest/semver.js';

export function allowed(version: string, record: ModelRecord | undefined, revoked: readonly string[], range: Range | undefined): boolean {
  if (record?.revoked.includes(version) || revoked.includes(version)) return false;
  // A bare model file is versioned by its ETag, not semver: a range does not apply to it.
  if (record?.kind === 'file') return true;
  return range === undefined || satisfies(version, range);
}

/** The cached version to start from: the active one if it may run, else the previous one. */
export function usableCached(record: ModelRecord | undefined, range: Range | undefined): CachedVersion | undefined {
  if (!record) return undefined;
  for (const key of [record.active, record.previous]) {
    const version = versionOf(record, key);
    if (version && allowed(version.version, record, [], range)) return version;
  }
  return undefined;
}

/** Whether `candidate` should replace `current`: newer, or `current` may no longer run. */
export function replaces(candidate: string, current: string | null, record: ModelRecord, range: Range | undefined): boolean {
  if (current === null || current === candidate) return current === null;
  if (!allowed(current, record, [], range)) return true;
  return record.kind === 'file' || compareVersionStrings(candidate, current) > 0;
}

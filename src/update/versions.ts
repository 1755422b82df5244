/** @file Which version may run: never a revoked one, never one outside the app's range; newer wins. */
import { versionOf, type CachedVersion, type ModelRecord } from '../cache/records.js';
import { compareVersionStrings, satisfies, type Range } from '../manifest/semver.js';

export function allowed(version: string, record: ModelRecord | undefined, revoked: readonly string[], range: Range | undefined): boolean {
  if (record?.revoked.includes(version) || revoked.includes(version)) return false;
  if (record?.banned?.some((b) => b.version === version)) return false;
  // A bare model file is versioned by its ETag, not semver: a range does not apply to it.
  if (record?.kind === 'file') return true;
  if (belowFloor(version, record)) return false;
  return range === undefined || satisfies(version, range);
}

/**
 * No downgrade: a version below the highest this device ever activated (and that is not revoked) is
 * never taken again, even after the model was removed or evicted. One still cached (the previous
 * version, kept for rollback) may run.
 */
export function belowFloor(version: string, record: ModelRecord | undefined): boolean {
  const floor = record?.highest;
  if (!record || floor === undefined || record.revoked.includes(floor) || versionOf(record, version)) return false;
  return compareVersionStrings(version, floor) < 0;
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

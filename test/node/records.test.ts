/** @file The cache's rules, pure: activation keeps one previous version, revocation drops versions, which version may run and replace. */
import { describe, expect, test } from 'vitest';
import { activate, ban, emptyRecord, liftBans, recordBytes, referencedFiles, revoke, tombstone, type CachedVersion, type ModelRecord } from '../../src/cache/records.js';
import { parseRange } from '../../src/manifest/semver.js';
import { allowed, replaces, usableCached } from '../../src/update/versions.js';

function version(v: string, sha = v.replace(/\./g, '').padEnd(64, 'a')): CachedVersion {
  return { version: v, variant: 'fp32', manifest: {}, files: [{ path: `${v}.onnx`, sha256: sha, size: 100 }], storedAt: 0 };
}

const base = (): ModelRecord => emptyRecord('https://h/m/manifest.json', 'manifest', 'm', 0);

describe('activate', () => {
  test('the replaced version becomes previous; older ones are dropped', () => {
    let r = activate(base(), version('1.0.0'));
    expect([r.active, r.previous, Object.keys(r.versions)]).toEqual(['1.0.0', null, ['1.0.0']]);
    r = activate(r, version('1.1.0'));
    expect([r.active, r.previous, Object.keys(r.versions).sort()]).toEqual(['1.1.0', '1.0.0', ['1.0.0', '1.1.0']]);
    r = activate(r, version('1.2.0'));
    expect([r.active, r.previous, Object.keys(r.versions).sort()]).toEqual(['1.2.0', '1.1.0', ['1.1.0', '1.2.0']]);
  });

  test('activating the active version again keeps its previous', () => {
    const r = activate(activate(activate(base(), version('1.0.0')), version('1.1.0')), version('1.1.0'));
    expect([r.active, r.previous]).toEqual(['1.1.0', '1.0.0']);
  });
});

describe('revoke', () => {
  test('revoked versions leave the record and never come back as active or previous', () => {
    let r = activate(activate(base(), version('1.0.0')), version('1.1.0'));
    r = revoke(r, ['1.1.0']);
    expect([r.active, r.previous, Object.keys(r.versions), r.revoked]).toEqual([null, '1.0.0', ['1.0.0'], ['1.1.0']]);
    expect(usableCached(r, undefined)?.version).toBe('1.0.0');
    expect(activate(r, version('1.1.0')).versions['1.1.0']).toBeUndefined();
  });

  test('revoking nothing new returns the same record', () => {
    const r = revoke(base(), []);
    expect(revoke(r, [])).toBe(r);
  });
});

describe('which version may run', () => {
  const r = activate(activate(base(), version('1.0.0')), version('1.1.0'));

  test('a range excludes versions; the previous one is the fallback', () => {
    expect(allowed('1.1.0', r, [], parseRange('~1.0.0'))).toBe(false);
    expect(usableCached(r, parseRange('~1.0.0'))?.version).toBe('1.0.0');
    expect(usableCached(r, parseRange('^2'))).toBeUndefined();
  });

  test('newer replaces older; a version that may no longer run is replaced by any', () => {
    expect(replaces('1.2.0', '1.1.0', r, undefined)).toBe(true);
    expect(replaces('1.0.0', '1.1.0', r, undefined)).toBe(false);
    expect(replaces('1.0.0', '1.1.0', revoke(r, ['1.1.0']), undefined)).toBe(true);
    expect(replaces('1.0.0', null, r, undefined)).toBe(true);
  });

  test('a bare file is versioned by ETag: any new ETag replaces, ranges do not apply', () => {
    const file = { ...r, kind: 'file' as const };
    expect(replaces('abc', 'def', file, undefined)).toBe(true);
    expect(allowed('abc', file, [], parseRange('^1'))).toBe(true);
  });
});

test('files are counted once per record and referenced across records', () => {
  const shared = 'f'.repeat(64);
  const a = activate(base(), version('1.0.0', shared));
  const b = activate({ ...base(), url: 'https://h/other.json' }, version('2.0.0', shared));
  expect(referencedFiles([a, b])).toEqual(new Set([shared]));
  expect(recordBytes(activate(a, version('1.1.0', shared)))).toBe(100);
});

describe('what the device learnt (hardening II)', () => {
  test('a version revoked before its activation ran (another context heard first) is not activated', () => {
    const r = revoke(activate(base(), version('1.0.0')), ['1.1.0']);
    const after = activate(r, version('1.1.0'));
    expect(after).toBe(r);
    expect([after.active, Object.keys(after.versions)]).toEqual(['1.0.0', ['1.0.0']]);
  });

  test('the highest version activated is a floor that survives removal; a revoked floor lets go', () => {
    const ran = activate(activate(base(), version('1.0.0')), version('1.1.0'));
    expect(ran.highest).toBe('1.1.0');
    // The previous version, still cached, may run (rollback); an older one not cached may not.
    expect(allowed('1.0.0', ran, [], undefined)).toBe(true);
    expect(allowed('0.9.0', ran, [], undefined)).toBe(false);
    const gone = tombstone(revoke(ran, ['1.0.0']));
    expect(gone).toMatchObject({ removed: true, versions: {}, active: null, highest: '1.1.0', revoked: ['1.0.0'], name: 'm' });
    expect(allowed('1.0.0', gone, [], undefined)).toBe(false);
    expect(allowed('1.0.5', gone, [], undefined)).toBe(false);
    expect(allowed('1.2.0', gone, [], undefined)).toBe(true);
    expect(allowed('1.0.5', revoke(gone, ['1.1.0']), [], undefined)).toBe(true);
    // Activating again brings the record back to life.
    expect(activate(gone, version('1.2.0'))).not.toHaveProperty('removed');
  });
});

describe('bans (a version no runtime here runs), apart from revocations', () => {
  test('a banned version may not run; the ban is lifted by another version of the same runtime only', () => {
    const r = ban(activate(activate(base(), version('1.0.0')), version('1.1.0')), '1.1.0', 'onnxruntime-web 1.30.0');
    expect(r.revoked).toEqual([]);
    expect(allowed('1.1.0', r, [], undefined)).toBe(false);
    expect(usableCached(r, undefined)?.version).toBe('1.0.0');
    expect(liftBans(r, 'onnxruntime-web 1.30.0')).toBe(r);
    expect(liftBans(r, 'onnxruntime-node 1.30.0')).toBe(r);
    const lifted = liftBans(r, 'onnxruntime-web 1.31.0');
    expect(lifted.banned).toBeUndefined();
    expect(allowed('1.1.0', lifted, [], undefined)).toBe(true);
  });
});

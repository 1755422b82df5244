/** @file Our small semver ranges agree with npm's `semver` package (the reference) on a grid of cases. */
import semver from 'semver';
import { describe, expect, test } from 'vitest';
import { compareVersionStrings, parseRange, satisfies } from '../../src/manifest/semver.js';

const RANGES = [
  '*', '1', '1.x', '1.2', '1.2.x', '^1.2.3', '^0.2.3', '^0.0.3', '^1.2', '^0.2', '^0.0', '~1.2.3', '~1.2', '~1', '~0.2.3',
  '>=1.0.0', '>1.2.3', '<2.0.0', '<=1.2.3', '>=1.0.0 <2', '>1 <=2.1', '1.2.3 - 2.3.4', '1.2 - 2.3', '1 - 2', '=1.2.3', '1.2.3',
  '^1.2.3 || ^2.0.0', '<1.0.0 || >=3', '>= 1.2.0', '^1.2.3-beta.2', '~1.2.3-alpha', '>=1.2.3-rc.1 <1.3.0', '<1.2', '>1.2', '<=1', '>=1.2',
];
const VERSIONS = [
  '0.0.1', '0.0.3', '0.0.4', '0.2.3', '0.2.9', '0.3.0', '1.0.0', '1.0.0-rc.1', '1.2.0', '1.2.2', '1.2.3', '1.2.3-beta.1', '1.2.3-beta.2',
  '1.2.3-beta.10', '1.2.3-alpha', '1.2.4', '1.2.4-rc.1', '1.3.0', '1.9.9', '2.0.0', '2.0.0-rc.1', '2.1.0', '2.3.4', '2.3.5', '2.4.0', '3.0.0', '10.0.0',
];

describe('satisfies agrees with npm semver', () => {
  test.each(RANGES)('%s', (range) => {
    const parsed = parseRange(range);
    const ours = VERSIONS.filter((version) => satisfies(version, parsed));
    const theirs = VERSIONS.filter((version) => semver.satisfies(version, range));
    expect(ours).toEqual(theirs);
  });
});

test('ordering agrees with npm semver, prereleases included', () => {
  const ours = [...VERSIONS].sort(compareVersionStrings);
  expect(ours).toEqual([...VERSIONS].sort(semver.compare));
});

test('an invalid range is INPUT_INVALID', () => {
  for (const bad of ['banana', '1.x.3', '>=', '^']) expect(() => parseRange(bad), bad).toThrow(/Option "version" must be a semver range/);
});

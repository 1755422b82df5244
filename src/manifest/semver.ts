/**
 * @file Semantic versions and npm-style ranges (`^1.2.0`, `~1.2`, `>=1.0.0 <2`, `1.x`, `1.2.3 - 1.4`, `||`),
 * small enough for the worker bundle. Prereleases match only a comparator with the same
 * major.minor.patch that has a prerelease itself, as in npm.
 */
import { OndeviceError } from '../errors.js';

export interface SemVer {
  major: number;
  minor: number;
  patch: number;
  prerelease: ReadonlyArray<string | number>;
}

const VERSION = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

export function parseVersion(text: string): SemVer | undefined {
  const m = VERSION.exec(text.trim());
  if (!m) return undefined;
  const prerelease = m[4] ? m[4].split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p)) : [];
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), prerelease };
}

export function compareVersions(a: SemVer, b: SemVer): number {
  const core = a.major - b.major || a.minor - b.minor || a.patch - b.patch;
  if (core !== 0) return Math.sign(core);
  if (a.prerelease.length === 0 || b.prerelease.length === 0) return Math.sign(b.prerelease.length - a.prerelease.length);
  for (let i = 0; i < Math.max(a.prerelease.length, b.prerelease.length); i++) {
    const x = a.prerelease[i];
    const y = b.prerelease[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return Math.sign(x - y);
    if (typeof x === 'number') return -1;
    if (typeof y === 'number') return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

/** Newest first. */
export function compareVersionStrings(a: string, b: string): number {
  const va = parseVersion(a);
  const vb = parseVersion(b);
  if (!va || !vb) return 0;
  return compareVersions(va, vb);
}

type Op = '<' | '<=' | '>' | '>=' | '=';
interface Comparator {
  op: Op;
  version: SemVer;
}

/** A partial version such as `1`, `1.2`, `1.x`, `*`: missing parts are wildcards. */
interface PartialVersion {
  parts: Array<number | undefined>;
  prerelease: ReadonlyArray<string | number>;
}

const PARTIAL = /^v?(\d+|[xX*])?(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

function parsePartial(text: string, range: string): PartialVersion {
  const m = PARTIAL.exec(text);
  if (!m || text === '') throw invalidRange(range);
  const parts = [m[1], m[2], m[3]].map((p) => (p === undefined || /^[xX*]$/.test(p) ? undefined : Number(p)));
  // `1.x.3` is meaningless: once a part is a wildcard, the rest are too.
  const first = parts.indexOf(undefined);
  if (first !== -1 && parts.slice(first).some((p) => p !== undefined)) throw invalidRange(range);
  const prerelease = m[4] ? m[4].split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p)) : [];
  return { parts, prerelease };
}

function v(major: number, minor = 0, patch = 0, prerelease: ReadonlyArray<string | number> = []): SemVer {
  return { major, minor, patch, prerelease };
}

/** The smallest version above every version that starts with `parts` (for `<` bounds). */
const ZERO_PRE = ['0'];

function desugar(op: string, p: PartialVersion): Comparator[] {
  const [M, m, pt] = p.parts;
  const exact = M !== undefined && m !== undefined && pt !== undefined;
  if (op === '^' || op === '~') {
    if (M === undefined) return [];
    const low = v(M, m ?? 0, pt ?? 0, p.prerelease);
    let high: SemVer;
    if (op === '~') high = m === undefined ? v(M + 1) : v(M, m + 1);
    else if (M > 0 || m === undefined) high = v(M + 1);
    else if (m > 0 || pt === undefined) high = v(0, m + 1);
    else high = v(0, 0, pt + 1);
    return [{ op: '>=', version: low }, { op: '<', version: { ...high, prerelease: ZERO_PRE } }];
  }
  if (M === undefined) return op === '<' || op === '>' ? [{ op: '<', version: v(0, 0, 0, ZERO_PRE) }] : [];
  if (exact) return [{ op: (op || '=') as Op, version: v(M, m, pt, p.prerelease) }];
  // A partial version: `1.2` = `>=1.2.0 <1.3.0-0`.
  const low = v(M, m ?? 0, 0);
  const high = m === undefined ? v(M + 1) : v(M, m + 1);
  const top = { ...high, prerelease: ZERO_PRE };
  switch (op) {
    case '':
    case '=':
      return [{ op: '>=', version: low }, { op: '<', version: top }];
    case '>':
      return [{ op: '>=', version: high }];
    case '>=':
      return [{ op: '>=', version: low }];
    case '<':
      return [{ op: '<', version: { ...low, prerelease: ZERO_PRE } }];
    case '<=':
      return [{ op: '<', version: top }];
    default:
      return [];
  }
}

function parseSet(text: string, range: string): Comparator[] {
  const hyphen = /^(\S+)\s+-\s+(\S+)$/.exec(text);
  if (hyphen) {
    const from = parsePartial(hyphen[1]!, range);
    const to = parsePartial(hyphen[2]!, range);
    const low = from.parts[0] === undefined ? [] : [{ op: '>=' as const, version: v(from.parts[0], from.parts[1] ?? 0, from.parts[2] ?? 0, from.prerelease) }];
    return [...low, ...desugar('<=', to)];
  }
  const tokens = text.replace(/(<=|>=|[<>=^~])\s+/g, '$1').split(/\s+/).filter(Boolean);
  return tokens.flatMap((token) => {
    const m = /^(<=|>=|[<>=^~]|~>)?(.*)$/.exec(token)!;
    const op = m[1] === '~>' ? '~' : (m[1] ?? '');
    return desugar(op, parsePartial(m[2]!, range));
  });
}

function invalidRange(range: string): OndeviceError {
  return new OndeviceError('INPUT_INVALID', `Option "version" must be a semver range such as "^1.2.0" or ">=1.0.0 <2"; got ${JSON.stringify(range)}.`, {
    details: { input: 'version', actual: range },
  });
}

export type Range = Comparator[][];

/** Parses an npm-style range; an invalid range is `INPUT_INVALID`. */
export function parseRange(range: string): Range {
  const text = range.trim();
  if (text === '' || text === '*' || text === 'x' || text === 'X') return [[]];
  return text.split('||').map((set) => parseSet(set.trim(), range));
}

function test(version: SemVer, c: Comparator): boolean {
  const cmp = compareVersions(version, c.version);
  switch (c.op) {
    case '<':
      return cmp < 0;
    case '<=':
      return cmp <= 0;
    case '>':
      return cmp > 0;
    case '>=':
      return cmp >= 0;
    default:
      return cmp === 0;
  }
}

function sameTuple(a: SemVer, b: SemVer): boolean {
  return a.major === b.major && a.minor === b.minor && a.patch === b.patch;
}

export function satisfies(versionText: string, range: Range): boolean {
  const version = parseVersion(versionText);
  if (!version) return false;
  return range.some((set) => {
    if (!set.every((c) => test(version, c))) return false;
    if (version.prerelease.length === 0) return true;
    // npm: a prerelease matches only where the range names a prerelease of the same tuple.
    return set.some((c) => c.version.prerelease.length > 0 && c.version.prerelease !== ZERO_PRE && sameTuple(c.version, version));
  });
}

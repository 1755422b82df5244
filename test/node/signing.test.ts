/**
 * @file Signed releases on the publisher's side and the rules the loader checks, in Node: keygen's
 * files, `publish --sign` checked by node:crypto on its own (not by our verifier), revoke and rollout
 * keeping a valid signature, the verifier's refusals, the manifest's new fields, the rollout bucket.
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import canonicalize from 'canonicalize';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cli } from '../support/cli.js';
import { expiresAt } from '../../src/cli/sign.js';
import { isOndeviceError } from '../../src/errors.js';
import { parseManifest } from '../../src/manifest/parse.js';
import { keyId, publicKeys, verifyManifest, type PublicJwk } from '../../src/manifest/signature.js';
import { rolloutBucket } from '../../src/update/trust.js';
import { digitsModelPath } from '../support/digits.mjs';


let work: string;
let release: string;
let publicKey: PublicJwk & { kid: string };
const read = (name: string) => JSON.parse(readFileSync(join(release, name), 'utf8')) as Record<string, unknown>;

/** Checks a manifest's ES256 signature with node:crypto alone: an implementation that is not ours. */
function independentlyVerified(manifest: Record<string, unknown>, jwk: PublicJwk): boolean {
  const { signatures, ...rest } = manifest as { signatures: Array<{ keyid: string; sig: string }> };
  const key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, format: 'jwk' });
  const thumbprint = createHash('sha256').update(`{"crv":"P-256","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}`).digest('base64url');
  return signatures.length === 1 && signatures[0]!.keyid === thumbprint && verify('sha256', Buffer.from(canonicalize(rest)!), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(signatures[0]!.sig, 'base64url'));
}

async function expectCode(promise: Promise<unknown>, code: string, field?: string) {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(isOndeviceError(error) && error.code, String(error)).toBe(code);
  if (field !== undefined && isOndeviceError(error)) expect(error.details['field'] ?? error.details['input']).toBe(field);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ondevice-sign-'));
  release = join(work, 'release');
  expect((await cli('keygen', '--out', join(work, 'keys'))).code).toBe(0);
  publicKey = JSON.parse(readFileSync(join(work, 'keys', 'public.jwk'), 'utf8'));
  copyFileSync(digitsModelPath(), join(work, 'digits.onnx'));
  for (const version of ['1.0.0', '1.1.0']) {
    const r = await cli('publish', join(work, 'digits.onnx'), release, '--version', version, '--sign', join(work, 'keys', 'private.jwk'), '--expires', '30d');
    expect(r.code, r.err).toBe(0);
  }
}, 60_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('keygen', () => {
  test('private.jwk is mode 0600 and holds the private part; public.jwk has none; a key is never overwritten', async () => {
    expect(statSync(join(work, 'keys', 'private.jwk')).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(work, 'keys', 'private.jwk'), 'utf8'))).toHaveProperty('d');
    expect(publicKey).not.toHaveProperty('d');
    expect(publicKey.kid).toBe(await keyId(publicKey));
    const again = await cli('keygen', '--out', join(work, 'keys'));
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/never overwritten/);
  });
});

describe('publish --sign', () => {
  test('manifest.json and the per-version manifest verify with node:crypto and with the loader', async () => {
    for (const name of ['manifest.json', 'manifest.1.0.0.json', 'manifest.1.1.0.json']) {
      expect(independentlyVerified(read(name), publicKey), name).toBe(true);
      await verifyManifest(read(name), [publicKey], name);
    }
    const expires = Date.parse(read('manifest.json')['expires'] as string);
    expect(expires - Date.now()).toBeGreaterThan(29 * 86_400_000);
  });

  test('revoke and rollout keep a valid signature; without --sign they refuse to break it', async () => {
    const key = join(work, 'keys', 'private.jwk');
    const unsigned = await cli('revoke', release, '1.0.0');
    expect(unsigned.code).toBe(1);
    expect(unsigned.err).toMatch(/is signed; pass --sign/);
    expect((await cli('revoke', release, '1.0.0', '--sign', key)).code).toBe(0);
    expect(read('manifest.json')['revoked']).toEqual(['1.0.0']);
    expect(independentlyVerified(read('manifest.json'), publicKey)).toBe(true);
    // 1.0.0 is revoked now: a rollout of 1.1.0 has no previous version to keep the others on.
    expect((await cli('rollout', release, '1.1.0', '10', '--sign', key)).err).toMatch(/no earlier version/);
  });

  test('rollout sets { percent, previous } on manifest.json and the per-version manifest, signed; 100 ends it', async () => {
    const dir = join(work, 'rollout');
    const key = join(work, 'keys', 'private.jwk');
    for (const version of ['1.0.0', '1.1.0']) await cli('publish', join(work, 'digits.onnx'), dir, '--version', version, '--sign', key);
    const r = await cli('rollout', dir, '1.1.0', '10', '--sign', key);
    expect(r.code, r.err).toBe(0);
    for (const name of ['manifest.json', 'manifest.1.1.0.json']) {
      const manifest = JSON.parse(readFileSync(join(dir, name), 'utf8')) as Record<string, unknown>;
      expect(manifest['rollout']).toEqual({ percent: 10, previous: '1.0.0' });
      expect(independentlyVerified(manifest, publicKey)).toBe(true);
    }
    expect((await cli('rollout', dir, '1.0.0', '10', '--sign', key)).err).toMatch(/a rollout is of the newest version/);
    expect((await cli('rollout', dir, '1.1.0', '101', '--sign', key)).code).toBe(2);
    expect((await cli('rollout', dir, '1.1.0', '100', '--sign', key)).code).toBe(0);
    const ended = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    expect(ended).not.toHaveProperty('rollout');
    expect(independentlyVerified(ended, publicKey)).toBe(true);
  });

  test('--expires takes 30d, 12h or an ISO date-time, and refuses the past and nonsense', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(expiresAt('30d', now)).toBe('2026-01-31T00:00:00.000Z');
    expect(expiresAt('12h', now)).toBe('2026-01-01T12:00:00.000Z');
    expect(expiresAt('2026-06-01T00:00:00Z', now)).toBe('2026-06-01T00:00:00.000Z');
    expect(() => expiresAt('2025-01-01T00:00:00Z', now)).toThrow(/in the past/);
    expect(() => expiresAt('soon', now)).toThrow(/duration/);
  });
});

describe('the verifier', () => {
  const signed = () => read('manifest.1.1.0.json');

  test('a changed field, no signatures, a truncated signature, a malformed list, another key: SIGNATURE_INVALID naming the field', async () => {
    const changed = { ...signed(), name: 'other' };
    await expectCode(verifyManifest(changed, [publicKey], 'm'), 'SIGNATURE_INVALID', 'signatures');
    const { signatures: _s, ...bare } = signed();
    await expectCode(verifyManifest(bare, [publicKey], 'm'), 'SIGNATURE_INVALID', 'signatures');
    const sigs = signed()['signatures'] as Array<{ keyid: string; sig: string }>;
    await expectCode(verifyManifest({ ...signed(), signatures: [{ ...sigs[0]!, sig: sigs[0]!.sig.slice(0, 20) }] }, [publicKey], 'm'), 'SIGNATURE_INVALID');
    await expectCode(verifyManifest({ ...signed(), signatures: [{ keyid: 1 }] }, [publicKey], 'm'), 'SIGNATURE_INVALID', 'signatures[0]');
    await expectCode(verifyManifest({ ...signed(), signatures: {} }, [publicKey], 'm'), 'SIGNATURE_INVALID', 'signatures');
    const other = JSON.parse(readFileSync(join(work, 'keys', 'public.jwk'), 'utf8')) as PublicJwk;
    await expectCode(verifyManifest(signed(), [{ ...other, x: publicKey.y, y: publicKey.x }], 'm'), 'SIGNATURE_INVALID');
  });

  test('key rotation: any key of the list may have signed', async () => {
    const rotated: PublicJwk = { kty: 'EC', crv: 'P-256', x: publicKey.y, y: publicKey.x };
    await verifyManifest(signed(), [rotated, publicKey], 'm');
  });

  test('publicKey: a private JWK, another key type, an empty list are INPUT_INVALID; extra members are dropped', () => {
    const priv = JSON.parse(readFileSync(join(work, 'keys', 'private.jwk'), 'utf8')) as JsonWebKey;
    expect(() => publicKeys(priv)).toThrow(/private key/);
    expect(() => publicKeys({ kty: 'RSA', n: 'x', e: 'AQAB' })).toThrow(/P-256/);
    expect(() => publicKeys({ kty: 'EC', crv: 'P-384', x: 'a', y: 'b' })).toThrow(/P-256/);
    expect(() => publicKeys([])).toThrow(/non-empty/);
    expect(() => publicKeys({ kty: 'EC', crv: 'P-256', x: 'a+b', y: 'c' })).toThrow(/base64url/);
    expect(publicKeys(publicKey)).toEqual([{ kty: 'EC', crv: 'P-256', x: publicKey.x, y: publicKey.y }]);
  });
});

describe('manifest fields', () => {
  const base = () => ({ ...read('manifest.1.1.0.json') });
  test('expires and rollout are checked, each failure naming its field', () => {
    const field = (json: unknown) => {
      try {
        parseManifest(json, 'https://h.test/m/manifest.json');
      } catch (error) {
        return isOndeviceError(error) ? error.details['field'] : 'not coded';
      }
      return 'accepted';
    };
    expect(field({ ...base(), expires: 'tomorrow' })).toBe('expires');
    expect(field({ ...base(), expires: '2026-01-01' })).toBe('expires');
    expect(field({ ...base(), rollout: { percent: 101, previous: '1.0.0' } })).toBe('rollout.percent');
    expect(field({ ...base(), rollout: { percent: '50', previous: '1.0.0' } })).toBe('rollout.percent');
    expect(field({ ...base(), rollout: { percent: 50, previous: '../x' } })).toBe('rollout.previous');
    expect(field({ ...base(), rollout: { percent: 50, previous: '1.1.0' } })).toBe('rollout.previous');
    expect(field({ ...base(), rollout: { percent: 50, previous: '1.0.0' }, expires: '2030-01-01T00:00:00+02:00' })).toBe('accepted');
  });
});

describe('the rollout bucket', () => {
  test('deterministic per device, model and version; about percent of many devices are in', async () => {
    expect(await rolloutBucket('device-1', 'digits', '1.1.0')).toBe(await rolloutBucket('device-1', 'digits', '1.1.0'));
    const ids = Array.from({ length: 2_000 }, (_, i) => `device-${i}`);
    const buckets = await Promise.all(ids.map((id) => rolloutBucket(id, 'digits', '1.1.0')));
    for (const percent of [10, 50, 90]) {
      const share = buckets.filter((b) => b < percent).length / ids.length;
      expect(Math.abs(share - percent / 100), `${percent}%`).toBeLessThan(0.04);
    }
    // Another version samples other devices.
    const next = await Promise.all(ids.map((id) => rolloutBucket(id, 'digits', '1.2.0')));
    const same = buckets.filter((b, i) => b < 50 === next[i]! < 50).length / ids.length;
    expect(same).toBeGreaterThan(0.4);
    expect(same).toBeLessThan(0.6);
  });
});

describe('hostile signed manifests (hardening II)', () => {
  test('a fractional percent reaches that share of devices, not a whole percent', async () => {
    const ids = Array.from({ length: 20_000 }, (_, i) => `device-${i}`);
    const buckets = await Promise.all(ids.map((id) => rolloutBucket(id, 'digits', '1.1.0')));
    const share = buckets.filter((b) => b < 0.5).length / ids.length;
    // Whole-percent buckets put 1 % of devices under 0.5.
    expect(share).toBeGreaterThan(0.003);
    expect(share).toBeLessThan(0.007);
  });

  test('a lone surrogate or a number out of range: SIGNATURE_INVALID, not a plain Error', async () => {
    const key = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' } as PublicJwk;
    for (const text of ['{"name":"\\ud800","signatures":[{"keyid":"k","sig":"AAAA"}]}', '{"size":1e999,"signatures":[{"keyid":"k","sig":"AAAA"}]}']) {
      const error = await verifyManifest(JSON.parse(text), [key], 'https://host/manifest.json').catch((e: unknown) => e);
      expect(isOndeviceError(error, 'SIGNATURE_INVALID'), String(error)).toBe(true);
      expect((error as Error).message).toMatch(/no canonical JSON form/);
    }
  });
});

describe('every signing command takes --expires, and none writes an expired manifest', () => {
  /** A signed release of two versions whose manifests expire in an hour; `now` is moved past that by rewriting expires. */
  async function freshRelease(name: string) {
    const dir = join(work, name);
    for (const version of ['1.0.0', '1.1.0']) {
      const r = await cli('publish', join(work, 'digits.onnx'), dir, '--version', version, '--name', 'digits', '--sign', join(work, 'keys', 'private.jwk'), '--expires', '1h');
      expect(r.code, r.err).toBe(0);
    }
    return dir;
  }
  /** The release's manifest.json as if its window had passed: re-signed with an expires in the past. */
  async function expire(dir: string) {
    const { finish, readSigningKey } = await import('../../src/cli/sign.js');
    const path = join(dir, 'manifest.json');
    const past = { ...JSON.parse(readFileSync(path, 'utf8')), expires: '2020-01-01T00:00:00.000Z' };
    // Signed at a time when it was still valid, as the publisher once did.
    const signed = await finish(past, await readSigningKey(join(work, 'keys', 'private.jwk')), path, { now: Date.parse('2019-12-01T00:00:00Z') });
    writeFileSync(path, JSON.stringify(signed));
  }
  const key = () => join(work, 'keys', 'private.jwk');

  test('revoke after the window: refused with what to pass; with --expires it is signed and fresh', async () => {
    const dir = await freshRelease('expired-revoke');
    await expire(dir);
    const refused = await cli('revoke', dir, '1.0.0', '--sign', key());
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/expired at 2020-01-01.*--expires 30d/);
    expect(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).revoked).toEqual([]);
    const ok = await cli('revoke', dir, '1.0.0', '--sign', key(), '--expires', '30d');
    expect(ok.code, ok.err).toBe(0);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.revoked).toEqual(['1.0.0']);
    expect(Date.parse(manifest.expires)).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    expect(independentlyVerified(manifest, publicKey)).toBe(true);
  });

  test('rollout after the window: refused; with --expires, signed and fresh', async () => {
    const dir = await freshRelease('expired-rollout');
    await expire(dir);
    expect((await cli('rollout', dir, '1.1.0', '10', '--sign', key())).err).toMatch(/expired at 2020-01-01/);
    const ok = await cli('rollout', dir, '1.1.0', '10', '--sign', key(), '--expires', '7d');
    expect(ok.code, ok.err).toBe(0);
    expect(independentlyVerified(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')), publicKey)).toBe(true);
  });

  test('`ondevice sign` renews every manifest of the release (the re-sign the README speaks of), and changes nothing else', async () => {
    const dir = await freshRelease('resign');
    const before = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    const result = await cli('sign', dir, '--sign', key(), '--expires', '90d');
    expect(result.code, result.err).toBe(0);
    for (const name of ['manifest.json', 'manifest.1.0.0.json', 'manifest.1.1.0.json']) {
      const manifest = JSON.parse(readFileSync(join(dir, name), 'utf8'));
      expect(independentlyVerified(manifest, publicKey), name).toBe(true);
      expect(Date.parse(manifest.expires)).toBeGreaterThan(Date.now() + 89 * 86_400_000);
    }
    const after = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    const { signatures: _a, expires: _b, ...same } = before;
    expect(after).toMatchObject(same);
  });

  test('publish --sign without --expires warns that a replayed manifest never expires', async () => {
    const r = await cli('publish', join(work, 'digits.onnx'), join(work, 'no-expiry'), '--version', '1.0.0', '--name', 'digits', '--sign', key());
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/signed with no --expires: a copy of it replayed .* stays valid for ever/);
  });

  test('rollout --sign refuses a previous version whose manifest is unsigned (every signed device outside would refuse it)', async () => {
    const dir = join(work, 'unsigned-previous');
    expect((await cli('publish', join(work, 'digits.onnx'), dir, '--version', '1.0.0', '--name', 'digits')).code).toBe(0);
    expect((await cli('publish', join(work, 'digits.onnx'), dir, '--version', '1.1.0', '--name', 'digits', '--sign', key(), '--expires', '30d')).code).toBe(0);
    const r = await cli('rollout', dir, '1.1.0', '10', '--sign', key());
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/manifest\.1\.0\.0\.json is not signed.*ondevice sign/);
  });
});

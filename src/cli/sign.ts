/// <reference types="node" />
/**
 * @file The publisher's keys and signatures: `keygen`, signing a manifest (ES256 over its RFC 8785
 * canonical JSON, see manifest/signature.ts), `--expires`, and `rollout`.
 */
import { webcrypto } from 'node:crypto';
import { access, chmod, readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { base64url, keyId, signedBytes, type PublicJwk } from '../manifest/signature.js';
import { compareVersionStrings, parseVersion } from '../manifest/semver.js';
import { CliError } from './cli-error.js';
import { readManifestFile, writeAtomically, type ManifestJson } from './manifest-file.js';

const subtle = webcrypto.subtle as unknown as SubtleCrypto;

/** Writes `dir/private.jwk` (mode 0600) and `dir/public.jwk`; never overwrites a private key. */
export async function keygen(dir: string): Promise<{ keyid: string; privatePath: string; publicPath: string }> {
  const privatePath = join(dir, 'private.jwk');
  const publicPath = join(dir, 'public.jwk');
  if (await access(privatePath).then(() => true, () => false)) {
    throw new CliError(`${privatePath} exists; a signing key is never overwritten (move it away first if you mean to replace it)`);
  }
  const pair = (await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const privateJwk = await subtle.exportKey('jwk', pair.privateKey);
  const { kty, crv, x, y } = await subtle.exportKey('jwk', pair.publicKey);
  const publicJwk = { kty, crv, x, y } as PublicJwk;
  const keyid = await keyId(publicJwk, subtle);
  await mkdir(dir, { recursive: true });
  // Created with 0600 (and set again, whatever the umask): only its owner may read a signing key.
  await writeFile(privatePath, `${JSON.stringify({ ...privateJwk, kid: keyid }, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(privatePath, 0o600);
  await writeFile(publicPath, `${JSON.stringify({ ...publicJwk, kid: keyid }, null, 2)}\n`, { mode: 0o644 });
  return { keyid, privatePath, publicPath };
}

export interface SigningKey {
  key: CryptoKey;
  keyid: string;
}

export async function readSigningKey(path: string): Promise<SigningKey> {
  let jwk: Record<string, unknown>;
  try {
    jwk = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new CliError(`--sign ${path}: cannot read the key (${(error as Error).message})`);
  }
  if (jwk['kty'] !== 'EC' || jwk['crv'] !== 'P-256' || typeof jwk['d'] !== 'string') {
    throw new CliError(`--sign ${path}: not an ECDSA P-256 private JWK (make one with ondevice keygen --out DIR and pass DIR/private.jwk)`);
  }
  const { kid: _kid, ...members } = jwk;
  const key = await subtle.importKey('jwk', members as JsonWebKey, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const keyid = await keyId({ kty: 'EC', crv: 'P-256', x: String(jwk['x']), y: String(jwk['y']) }, subtle);
  return { key, keyid };
}

/** The manifest with one signature by `signer` (any earlier signatures are replaced: they no longer cover it). */
export async function signManifest(manifest: ManifestJson, signer: SigningKey): Promise<ManifestJson> {
  const { signatures: _old, ...unsigned } = manifest;
  const sig = new Uint8Array(await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, signer.key, signedBytes(unsigned)));
  return { ...unsigned, signatures: [{ keyid: signer.keyid, sig: base64url(sig) }] } as ManifestJson;
}

/** What a signing command is told about `expires`: a new value (`--expires`), or none (the manifest's own stays). */
export interface Freshness {
  expires?: string | undefined;
  /** Told when a signed manifest has no `expires` (a replayed copy is then good for ever). */
  warn?: ((text: string) => void) | undefined;
  now?: number;
}

/**
 * Sets `--expires` if given, then signs with `signer` if given; refuses to change a signed manifest
 * without it (its signature would break), and never signs a manifest that is already expired (every
 * device would ignore it: an emergency revocation would be lost without a word).
 */
export async function finish(manifest: ManifestJson, signer: SigningKey | undefined, what: string, freshness: Freshness = {}): Promise<ManifestJson> {
  const next = freshness.expires === undefined ? manifest : ({ ...manifest, expires: freshness.expires } as ManifestJson);
  if (!signer) {
    if (next['signatures'] !== undefined) throw new CliError(`${what} is signed; pass --sign <private.jwk> so it stays signed`);
    return next;
  }
  checkNotExpired(next, what, freshness.now);
  if (next['expires'] === undefined) freshness.warn?.(`warning: ${what} is signed with no --expires: a copy of it replayed by a host or a network stays valid for ever (it cannot hide a later revocation for long only if it expires). Pass --expires 30d, and sign again before then (ondevice sign).`);
  return signManifest(next, signer);
}

function checkNotExpired(manifest: ManifestJson, what: string, now = Date.now()): void {
  const expires = manifest['expires'];
  if (typeof expires !== 'string') return;
  const ms = Date.parse(expires);
  if (Number.isNaN(ms) || ms > now) return;
  throw new CliError(`${what} expired at ${expires}: signed as it is, every device would ignore it (a revocation in it included). Pass --expires with a new window, e.g. --expires 30d`, 2);
}

/**
 * `ondevice sign`: signs every manifest of a release again (manifest.json and each
 * manifest.<version>.json), with a new window (`--expires`) or a new key (rotation). Nothing else
 * changes, so devices download no file.
 */
export async function resign(releaseDir: string, signer: SigningKey, freshness: Freshness): Promise<{ manifest: ManifestJson; files: string[] }> {
  const { manifest, path, dir } = await readManifestFile(releaseDir);
  const files: string[] = [];
  for (const name of (await readdir(dir)).filter((f) => /^manifest\..+\.json$/.test(f)).sort()) {
    const perVersion = JSON.parse(await readFile(join(dir, name), 'utf8')) as ManifestJson;
    // The published version's own copy is the same manifest as manifest.json: written below, as one.
    if (perVersion.version === manifest.version) continue;
    const signed = await finish(perVersion, signer, join(dir, name), { ...freshness, warn: undefined });
    await writeAtomically(join(dir, name), `${JSON.stringify(signed, null, 2)}\n`);
    files.push(name);
  }
  const next = await finish(manifest, signer, path, freshness);
  const text = `${JSON.stringify(next, null, 2)}\n`;
  await writeAtomically(join(dir, `manifest.${manifest.version}.json`), text);
  await writeAtomically(path, text);
  files.push(`manifest.${manifest.version}.json`, 'manifest.json');
  return { manifest: next, files };
}

/** `--expires`: a duration from now (`30d`, `12h`) or an ISO 8601 date-time; the manifest's `expires`. */
export function expiresAt(text: string, now = Date.now()): string {
  const duration = /^(\d+)([dh])$/.exec(text);
  if (duration) return new Date(now + Number(duration[1]) * (duration[2] === 'd' ? 86_400_000 : 3_600_000)).toISOString();
  const ms = /^\d{4}-\d{2}-\d{2}T/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms)) throw new CliError(`--expires must be a duration such as 30d or 12h, or an ISO 8601 date-time; got "${text}"`, 2);
  if (ms <= now) throw new CliError(`--expires ${text} is in the past`, 2);
  return new Date(ms).toISOString();
}

/**
 * Sets `rollout: { percent, previous }` on `version` (the published one) in manifest.json and its
 * per-version manifest; 100 ends the rollout. `previous` is the highest earlier version published
 * here and not revoked.
 */
export async function rollout(releaseDir: string, version: string, percentText: string, signer: SigningKey | undefined, freshness: Freshness = {}): Promise<ManifestJson> {
  const percent = Number(percentText);
  if (!/^\d+(\.\d+)?$/.test(percentText) || percent < 0 || percent > 100) throw new CliError(`<percent> must be a number from 0 to 100, got "${percentText}"`, 2);
  const { manifest, path, dir } = await readManifestFile(releaseDir);
  if (manifest.version !== version) throw new CliError(`the published version is ${manifest.version}, not ${version}: a rollout is of the newest version`);
  const revoked = new Set(manifest.revoked ?? []);
  const earlier = (await readdir(dir))
    .map((f) => /^manifest\.(.+)\.json$/.exec(f)?.[1])
    .filter((v): v is string => v !== undefined && parseVersion(v) !== undefined && compareVersionStrings(v, version) < 0 && !revoked.has(v))
    .sort(compareVersionStrings);
  const previous = earlier.at(-1);
  if (!previous) throw new CliError(`no earlier version of ${manifest.name} is published in ${releaseDir} (and not revoked): devices outside the rollout would have nothing to run`);
  // Devices outside the rollout load previous's own manifest: signed like this one, or they refuse it.
  const previousPath = join(dir, `manifest.${previous}.json`);
  if (signer && (JSON.parse(await readFile(previousPath, 'utf8')) as ManifestJson)['signatures'] === undefined) {
    throw new CliError(`${previousPath} is not signed, so every signed device outside the rollout would refuse it (SIGNATURE_INVALID). Sign the release's manifests first: ondevice sign ${releaseDir} --sign <private.jwk> --expires 30d`);
  }
  const { rollout: _old, ...rest } = manifest;
  const next = await finish(percent >= 100 ? (rest as ManifestJson) : ({ ...rest, rollout: { percent, previous } } as ManifestJson), signer, path, freshness);
  const text = `${JSON.stringify(next, null, 2)}\n`;
  await writeAtomically(join(dir, `manifest.${version}.json`), text);
  await writeAtomically(path, text);
  return next;
}

/**
 * @file Signed releases for the signing tests, made at test time with the CLI's own signing code
 * (src/cli/sign.ts) and two fresh key pairs: the digits releases 1.0.0 and 1.1.0 (fp32 only, files
 * served by name), signed by key A or B, and the variants a test needs (expired, a rollout, an old
 * manifest that tries to revoke a newer version).
 */
import { readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { keyId, type PublicJwk } from '../../src/manifest/signature.js';
import { signManifest, type SigningKey } from '../../src/cli/sign.js';
import type { ManifestJson } from '../../src/cli/manifest-file.js';

export interface SignedReleases {
  publicA: PublicJwk;
  publicB: PublicJwk;
  /** A private JWK, to check that the loader refuses one. */
  privateA: JsonWebKey;
  manifests: Record<'v1A' | 'v1B' | 'v2A' | 'v2B' | 'v1RevokesNext' | 'v2Expired' | 'v2Rollout0' | 'v2Rollout50' | 'v2Expires', ManifestJson>;
}

async function newKey(): Promise<{ signer: SigningKey; publicJwk: PublicJwk; privateJwk: JsonWebKey }> {
  const subtle = webcrypto.subtle as unknown as SubtleCrypto;
  const pair = (await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const privateJwk = await subtle.exportKey('jwk', pair.privateKey);
  const { x, y } = await subtle.exportKey('jwk', pair.publicKey);
  const publicJwk: PublicJwk = { kty: 'EC', crv: 'P-256', x: x!, y: y! };
  return { signer: { key: pair.privateKey, keyid: await keyId(publicJwk, subtle) }, publicJwk, privateJwk };
}

function release(folder: 'release' | 'next'): ManifestJson {
  const path = fileURLToPath(new URL(`../../models/digits/${folder}/manifest.json`, import.meta.url));
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as ManifestJson;
  return { ...manifest, variants: { fp32: manifest.variants['fp32']! } };
}

export async function signedReleases(): Promise<SignedReleases> {
  const [a, b] = [await newKey(), await newKey()];
  const [v1, v2] = [release('release'), release('next')];
  const sign = (m: ManifestJson, key = a) => signManifest(m, key.signer);
  return {
    publicA: a.publicJwk,
    publicB: b.publicJwk,
    privateA: a.privateJwk,
    manifests: {
      v1A: await sign(v1),
      v1B: await sign(v1, b),
      v2A: await sign(v2),
      v2B: await sign(v2, b),
      v1RevokesNext: await sign({ ...v1, revoked: ['1.1.0'] }),
      v2Expired: await sign({ ...v2, expires: '2020-01-01T00:00:00Z' }),
      v2Expires: await sign({ ...v2, expires: '2999-01-01T00:00:00Z' }),
      v2Rollout0: await sign({ ...v2, rollout: { percent: 0, previous: '1.0.0' } }),
      v2Rollout50: await sign({ ...v2, rollout: { percent: 50, previous: '1.0.0' } }),
    },
  };
}

/**
 * @file Signed manifests: ES256 (ECDSA P-256, SHA-256) over the RFC 8785 canonical JSON of the
 * manifest without its `signatures` field; each signature names its key by the RFC 7638 thumbprint.
 * The same code verifies in the browser, in workers and in Node (WebCrypto everywhere). Nothing in a
 * manifest is acted on before its signature holds (see update/trust.ts).
 */
import canonicalize from 'canonicalize';
import { OndeviceError } from '../errors.js';

/** An ECDSA P-256 public key as a JWK: all `loadModel`'s `publicKey` accepts. */
export interface PublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Checks the app's `publicKey` option (one JWK or a list) and keeps only the public members. A JWK
 * with a private part is refused: an app that ships it has leaked its signing key.
 */
export function publicKeys(option: unknown): PublicJwk[] {
  const list = Array.isArray(option) ? option : [option];
  if (list.length === 0) throw invalidKey('must be a JWK or a non-empty list of JWKs', option);
  return list.map((key, i) => {
    const field = Array.isArray(option) ? `publicKey[${i}]` : 'publicKey';
    if (typeof key !== 'object' || key === null) throw invalidKey(`${field} must be a JWK object`, key);
    const jwk = key as Record<string, unknown>;
    if ('d' in jwk) {
      throw new OndeviceError('INPUT_INVALID', `Option "${field}" holds a private key (it has "d"). Pass only the public key (public.jwk); the private key must never ship in an app: make a new pair with ondevice keygen and sign again.`, {
        details: { input: field },
      });
    }
    if (jwk['kty'] !== 'EC' || jwk['crv'] !== 'P-256') throw invalidKey(`${field} must be an ECDSA P-256 key (kty "EC", crv "P-256"), as ondevice keygen writes; got kty ${JSON.stringify(jwk['kty'])}, crv ${JSON.stringify(jwk['crv'])}`, key);
    for (const member of ['x', 'y'] as const) {
      if (typeof jwk[member] !== 'string' || !BASE64URL.test(jwk[member])) throw invalidKey(`${field}.${member} must be a base64url string`, key);
    }
    return { kty: 'EC', crv: 'P-256', x: jwk['x'] as string, y: jwk['y'] as string };
  });
}

function invalidKey(problem: string, actual: unknown): OndeviceError {
  return new OndeviceError('INPUT_INVALID', `Option "publicKey": ${problem}.`, { details: { input: 'publicKey', actual: typeof actual === 'object' ? '(object)' : String(actual) } });
}

/** The bytes a signature covers: the canonical JSON (RFC 8785) of `json` without `signatures`. */
export function signedBytes(json: Record<string, unknown>): Uint8Array<ArrayBuffer> {
  const { signatures: _ignored, ...rest } = json;
  return new TextEncoder().encode(canonicalize(rest));
}

/** The RFC 7638 thumbprint of a P-256 key: SHA-256 of its required members in canonical form, base64url. */
export async function keyId(jwk: PublicJwk, subtle: SubtleCrypto = requireSubtle()): Promise<string> {
  const members = canonicalize({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return base64url(new Uint8Array(await subtle.digest('SHA-256', new TextEncoder().encode(members))));
}

/**
 * Verifies that one of `keys` signed `json`, a manifest as fetched or as cached. Throws
 * `SIGNATURE_INVALID` naming what is wrong, or `INSECURE_CONTEXT` where WebCrypto is missing (a
 * signed load never skips the check).
 */
export async function verifyManifest(json: unknown, keys: readonly PublicJwk[], url: string): Promise<void> {
  const subtle = requireSubtle();
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalid(url, 'it is not a JSON object', '(root)');
  const manifest = json as Record<string, unknown>;
  const signatures = manifest['signatures'];
  if (signatures === undefined) throw invalid(url, 'it is not signed (no "signatures" field)', 'signatures');
  if (!Array.isArray(signatures) || signatures.length === 0) throw invalid(url, '"signatures" must be a non-empty list of { keyid, sig }', 'signatures');
  const parsed = signatures.map((entry: unknown, i) => {
    const e = entry as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null || typeof e['keyid'] !== 'string' || typeof e['sig'] !== 'string' || !BASE64URL.test(e['sig'])) {
      throw invalid(url, `"signatures[${i}]" must be { "keyid": string, "sig": base64url string }`, `signatures[${i}]`);
    }
    return { keyid: e['keyid'], sig: e['sig'] };
  });
  const ids = await Promise.all(keys.map((k) => keyId(k, subtle)));
  let data: Uint8Array<ArrayBuffer>;
  try {
    data = signedBytes(manifest);
  } catch (error) {
    // RFC 8785 has no form for a lone surrogate or a number JSON cannot hold (1e999 parses as
    // Infinity): such a manifest was not signed by any signer, so it is refused as untrusted.
    throw invalid(url, `it holds a value with no canonical JSON form (RFC 8785: ${error instanceof Error ? error.message : String(error)})`, '(root)');
  }
  let mismatch: string | undefined;
  for (const { keyid, sig } of parsed) {
    const index = ids.indexOf(keyid);
    if (index < 0) continue;
    const raw = fromBase64url(sig);
    // ES256 is r ‖ s, 32 bytes each (what WebCrypto takes): anything else cannot verify.
    const key = await subtle.importKey('jwk', { ...keys[index]!, ext: true }, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
    if (raw.length === 64 && (await subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, raw, data))) return;
    mismatch = keyid;
  }
  if (mismatch !== undefined) throw invalid(url, `the signature by key ${mismatch} does not match the manifest (changed after signing, or a damaged signature)`, 'signatures');
  const known = parsed.map((s) => s.keyid).join(', ');
  throw invalid(url, `none of its signatures (by ${known}) is by a key the app trusts (${ids.join(', ')})`, 'signatures');
}

function invalid(url: string, why: string, field: string): OndeviceError {
  return new OndeviceError('SIGNATURE_INVALID', `The manifest ${url} cannot be trusted: ${why}. Nothing from it was downloaded or activated; a verified version already on the device keeps running. Sign the release with ondevice publish --sign, with a key the app's publicKey lists.`, {
    details: { url, field },
  });
}

function requireSubtle(): SubtleCrypto {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) {
    throw new OndeviceError('INSECURE_CONTEXT', 'Checking signed manifests needs WebCrypto, which this page does not have: it is not a secure context. Serve the app over https (or from localhost).', { details: {} });
  }
  return subtle;
}

export function base64url(bytes: Uint8Array): string {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> {
  const padded = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  let binary: string;
  try {
    binary = atob(padded);
  } catch {
    return new Uint8Array(0);
  }
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

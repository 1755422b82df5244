/** @file SHA-256 integrity of model files against the manifest. */
import { OndeviceError } from '../errors.js';
import { lendHasher, type HashKind } from './hashers.js';

/**
 * SHA-256 of `bytes`, lowercase hex: WebCrypto where the page is a secure context (fast, and off this
 * thread), else hash-wasm, the same code the download path hashes with as bytes arrive. A plain-http
 * page (a phone testing an app over the LAN) has no `crypto.subtle`, and must not be told that its
 * cached files are altered because of it.
 */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return hashWith('sha256', bytes);
  const digest = await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * xxh64 of `bytes`, hex: the checksum a stored file carries, checked on every warm read (about 15 ms
 * per 100 MB, against 116 for SHA-256 in WebCrypto, which also blocks this worker while it runs).
 */
export function xxh64Hex(bytes: Uint8Array): Promise<string> {
  return hashWith('xxh64', bytes);
}

/** `bytes` hashed whole with a lent hasher (hash-wasm's own one-shot functions would keep one more instance each). */
async function hashWith(kind: HashKind, bytes: Uint8Array): Promise<string> {
  const lease = await lendHasher(kind);
  try {
    return lease.hasher.update(bytes).digest('hex');
  } finally {
    lease.release();
  }
}

/** `INTEGRITY_MISMATCH` with url, expected and actual hashes. */
export function integrityError(url: string, expected: string, actual: string): OndeviceError {
  return new OndeviceError('INTEGRITY_MISMATCH', `${url} does not match its manifest: SHA-256 ${actual}, expected ${expected}. The file on the host is corrupt or from another release; nothing of it was used.`, {
    details: { url, expected, actual },
  });
}

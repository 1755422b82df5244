/** @file SHA-256 integrity of downloaded files against the manifest. */
import { OndeviceError } from '../errors.js';

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) {
    throw new OndeviceError('INSECURE_CONTEXT', 'ondevice verifies model files with WebCrypto, which browsers offer only in secure contexts. Serve the page over https (or from localhost).', {
      details: { isSecureContext: globalThis.isSecureContext ?? false },
    });
  }
  const digest = await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** `INTEGRITY_MISMATCH` with url, expected and actual hashes. */
export function integrityError(url: string, expected: string, actual: string): OndeviceError {
  return new OndeviceError('INTEGRITY_MISMATCH', `${url} does not match its manifest: SHA-256 ${actual}, expected ${expected}. The file on the host is corrupt or from another release; nothing of it was used.`, {
    details: { url, expected, actual },
  });
}

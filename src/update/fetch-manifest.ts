/**
 * @file The one cheap question to the model host: has the manifest changed? Sent with
 * `cache: 'no-cache'`, so the browser revalidates with its own `If-None-Match` (a 304 costs a few
 * hundred bytes) and a cross-origin host needs no CORS preflight for it.
 */
import { OndeviceError, throwIfAborted } from '../errors.js';
import { htmlInsteadOf, isHtml, openUrl, type Fetch } from '../download/fetch-file.js';
import { parseManifest } from '../manifest/parse.js';
import type { Manifest } from '../manifest/types.js';
import type { Validator } from '../cache/records.js';
import type { PublicJwk } from '../manifest/signature.js';
import { checkSignature } from './trust.js';

export interface FetchedManifest {
  manifest: Manifest;
  /** The JSON as published, kept with the cached version. */
  json: unknown;
  validator: Validator;
}

export async function fetchManifest(url: string, fetchFn: Fetch, signal: AbortSignal | undefined, keys?: readonly PublicJwk[]): Promise<FetchedManifest> {
  const response = await openUrl(url, fetchFn, signal, { cache: 'no-cache' });
  return readManifest(response, url, signal, keys);
}

/** Reads and checks a manifest; with `keys`, its signature is checked before any field is read. */
export async function readManifest(response: Response, url: string, signal: AbortSignal | undefined, keys?: readonly PublicJwk[]): Promise<FetchedManifest> {
  if (isHtml(response, undefined)) throw htmlInsteadOf('manifest', url, response);
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    throwIfAborted(signal);
    throw new OndeviceError('DOWNLOAD_FAILED', `Reading the manifest ${url} failed. Try again.`, { details: { url }, cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    if (/^\s*</.test(text)) throw htmlInsteadOf('manifest', url, response);
    throw new OndeviceError('MANIFEST_INVALID', `The manifest ${url} is not valid JSON (${error instanceof Error ? error.message : String(error)}).`, { details: { url } });
  }
  await checkSignature(json, url, keys);
  return { manifest: parseManifest(json, url), json, validator: validatorOf(response) };
}

export function validatorOf(response: Response): Validator {
  return { etag: response.headers.get('etag'), lastModified: response.headers.get('last-modified') };
}

/** @file For manifest tests: the field a MANIFEST_INVALID names, or undefined when the manifest is taken. */
import { isOndeviceError } from '../../src/errors.js';
import { parseManifest } from '../../src/manifest/parse.js';

export function manifestFieldOf(value: unknown, url: string): string | undefined {
  try {
    parseManifest(value, url);
    return undefined;
  } catch (error) {
    if (!isOndeviceError(error, 'MANIFEST_INVALID')) throw error;
    return error.details['field'] as string;
  }
}

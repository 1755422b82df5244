/**
 * @file A release's files as bytes, without a session: what `transformersCache` answers
 * transformers.js with. The same resolve as a load (cache or host, the update policy, signatures,
 * revocations, integrity), for one variant; the files are handed over once every one has hashed right.
 */
import { CacheMiss } from '../cache/files.js';
import { OndeviceError } from '../errors.js';
import { releaseParts } from './graphs.js';
import { resolveModel, type Resolved, type ResolveContext, type UpdateRules } from '../update/resolve.js';

export interface ReleaseFiles {
  name: string;
  version: string;
  variant: string;
  /** Each graph's files: its model first, then its external data, in the manifest's order. */
  graphs: Record<string, Uint8Array[]>;
  assets: Record<string, Uint8Array>;
  /** Whether this resolve asked the host (if not, a background check is due under `background`). */
  asked: boolean;
}

/** The variant's files and the assets of the version `rules` resolve to, verified (resolved again once if the cached copy was altered). */
export async function resolveFiles(url: string, rules: UpdateRules, ctx: ResolveContext): Promise<{ files: ReleaseFiles; resolved: Resolved }> {
  let resolved = await resolveModel(url, rules, ctx);
  try {
    await resolved.verified;
  } catch (error) {
    if (!(error instanceof CacheMiss)) throw error;
    resolved = await resolveModel(url, rules, ctx);
    await resolved.verified.catch((again: unknown) => {
      if (!(again instanceof CacheMiss)) throw again;
      throw new OndeviceError('INTEGRITY_MISMATCH', `The cached files of ${url} were altered twice in a row while reading them; try again.`, { details: { url } });
    });
  }
  if (!resolved.manifest || resolved.version === null || resolved.variant === null) {
    throw new OndeviceError('INPUT_INVALID', `${url} is a bare model file; transformersCache serves releases with a manifest (publish the repo folder with ondevice publish).`, { details: { input: 'models', actual: url } });
  }
  const parts = releaseParts(resolved.files, resolved.manifest, resolved.variant);
  return {
    resolved,
    files: {
      name: resolved.name,
      version: resolved.version,
      variant: resolved.variant,
      graphs: Object.fromEntries(parts.graphs.map((g) => [g.name, g.files.map((f) => f.bytes)])),
      assets: Object.fromEntries(parts.assets),
      asked: resolved.asked,
    },
  };
}

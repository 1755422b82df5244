/**
 * @file What a device takes from a manifest only once it holds, in this order (as TUF's client
 * does): the signature (when the app gave keys), then freshness (`expires`), then, in the update
 * rules, version monotonicity (versions.ts); and a staged rollout's bucket for this device.
 */
import { sha256Hex } from '../download/verify.js';
import { OndeviceError } from '../errors.js';
import { verifyManifest, type PublicJwk } from '../manifest/signature.js';
import { compareVersionStrings, parseVersion } from '../manifest/semver.js';
import type { Manifest } from '../manifest/types.js';
import type { CacheStore } from '../cache/store.js';

/** Checks the signature of a manifest's JSON before anything in it is read (no keys: nothing to check). */
export async function checkSignature(json: unknown, url: string, keys: readonly PublicJwk[] | undefined): Promise<void> {
  if (keys) await verifyManifest(json, keys, url);
}

/** An expired manifest is never taken as an update or a revocation source (a frozen host cannot hide a revocation for ever). */
export function checkFresh(manifest: Manifest, url: string, now = Date.now()): void {
  if (manifest.expires === null || manifest.expires > now) return;
  const when = new Date(manifest.expires).toISOString();
  throw new OndeviceError('MANIFEST_EXPIRED', `The manifest ${url} expired at ${when}: the host's release is stale, so nothing in it is taken (no update, no revocation). The version on the device keeps running. Publish again (ondevice publish --expires) to refresh it.`, {
    details: { url, expires: when },
  });
}

/** The versions a manifest may revoke: its own and those below it (a replayed old manifest cannot revoke newer ones). */
export function revocable(manifest: Manifest): string[] {
  return manifest.revoked.filter((v) => parseVersion(v) !== undefined && compareVersionStrings(v, manifest.version) <= 0);
}

export interface RolloutState {
  percent: number;
  /** This device's bucket is under `percent`: it takes the version. */
  included: boolean;
}

/** Where the device id comes from when there is no cache: one per context, so a private tab is one more device. */
let ephemeralId: string | undefined;

/**
 * This device's place in the manifest's rollout (`null`: no rollout, or 100 %). The bucket is
 * SHA-256 of the device's random id, the model's name and the version, scaled to [0, 100): each release
 * samples other devices, and the id never leaves the device.
 */
export async function rolloutState(manifest: Manifest, store: CacheStore | undefined): Promise<RolloutState | null> {
  const rollout = manifest.rollout;
  if (!rollout || rollout.percent >= 100) return null;
  const id = (await store?.deviceId().catch(() => undefined)) ?? (ephemeralId ??= `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`);
  return { percent: rollout.percent, included: (await rolloutBucket(id, manifest.name, manifest.version)) < rollout.percent };
}

/**
 * In [0, 100), the same for the same device, model and version everywhere; fine-grained (2^32 steps),
 * so `percent: 0.5` reaches half a percent of devices, not a whole one.
 */
export async function rolloutBucket(deviceId: string, name: string, version: string): Promise<number> {
  // sha256Hex works without WebCrypto too (insecure contexts): the bucket must not depend on it.
  const hex = await sha256Hex(new TextEncoder().encode(`${deviceId}|${name}|${version}`));
  return (Number.parseInt(hex.slice(0, 8), 16) / 2 ** 32) * 100;
}

/** @file The shapes the update rules work with: what a load asks for, what resolving gives back. */
import type { FilesContext, ModelFileBytes } from '../cache/files.js';
import type { Estimate } from '../cache/quota.js';
import type { Validator } from '../cache/records.js';
import type { StoragePreference } from '../cache/store.js';
import type { RetryOptions } from '../download/resumable.js';
import type { OndeviceError } from '../errors.js';
import type { Manifest } from '../manifest/types.js';
import type { BackendFallback } from '../types.js';
import type { FetchedManifest } from './fetch-manifest.js';
import type { PublicJwk } from '../manifest/signature.js';
import type { RolloutState } from './trust.js';

export type UpdatePolicy = 'background' | 'blocking' | 'never';

export interface UpdateRules {
  update: UpdatePolicy;
  /** `'auto'` or a variant name; see `chooseVariant`. */
  variant: string;
  /** A semver range the app accepts. */
  version: string | undefined;
  maxCacheBytes: number | undefined;
  /** Overrides of the download retry defaults. */
  retry?: Partial<RetryOptions> | undefined;
  /** Keys one of which must have signed every manifest acted on (see manifest/signature.ts). */
  publicKeys?: PublicJwk[] | undefined;
  /** Where new files' bytes go (see cache/store.ts). @default 'auto' */
  storage?: StoragePreference | undefined;
}

/** The variant of a manifest this device should load, and what was passed over on the way. */
export interface VariantChoice {
  variant: string;
  fallbacks: BackendFallback[];
}

export interface ResolveContext extends FilesContext {
  /**
   * The variant this device should load from a manifest (chosen with the backend). Asynchronous: it
   * waits for the device probe, which runs while the cache is read.
   */
  choose: (manifest: Manifest) => Promise<VariantChoice>;
  estimate?: Estimate | undefined;
  /** URLs of the models loaded in this context (never evicted to make room; other contexts' are seen through their locks). */
  inUse: ReadonlySet<string>;
  /** A manifest fetched by another worker for this load: the first question to the host is answered by it. */
  handoff?: Handoff | undefined;
  /** The manifest this load fetched, if it did (set by the resolver). */
  fetched?: FetchedManifest | undefined;
  /** Called when the host's manifest revokes versions this device had not seen revoked. */
  onRevoked?: ((versions: readonly string[]) => void) | undefined;
  /** Called when this context activates a version. */
  onActivated?: ((version: string) => void) | undefined;
  /** Keys one of which must have signed every manifest acted on, cached ones included. */
  publicKeys?: readonly PublicJwk[] | undefined;
}

/** A manifest as one worker fetched it, handed to another (plain data, so it crosses postMessage). */
export interface Handoff {
  json: unknown;
  validator: Validator;
}

export interface Resolved {
  url: string;
  name: string;
  version: string | null;
  variant: string | null;
  manifest: Manifest | undefined;
  files: ModelFileBytes[];
  fromCache: boolean;
  /**
   * Settles when the files have hashed right. Cached files are checked while the session is built;
   * a rejection with `CacheMiss` means the cached copy was altered (now dropped): resolve again.
   */
  verified: Promise<void>;
  /** The version has started on this device before (so a failure to start it now is not its bytes' fault). */
  startedBefore: boolean;
  /** The cache still keeps the version this one replaced (for rollback), or has not recorded this start yet. */
  needsConfirm: boolean;
  /** Variants passed over on the way to `variant`, for `info.fallbacks`. */
  variantFallbacks: BackendFallback[];
  /** This load asked the host (so no background check is needed after it). */
  asked: boolean;
  /** A blocking load that fell back to the cached version: why the newer one could not be had. */
  updateError?: OndeviceError | undefined;
  /** The host's manifest is a staged rollout: whether this device is in it. */
  rollout?: RolloutState | undefined;
  /**
   * A storage write this resolve started and did not wait for (the version's last use). Whoever
   * holds the model waits for it before it lets go: a write cut by the end of a worker leaves
   * WebKitGTK's IndexedDB stalled for the whole origin.
   */
  settling?: Promise<void> | undefined;
}

/** @file The shapes the update rules work with: what a load asks for, what resolving gives back. */
import type { Estimate } from '../cache/quota.js';
import type { FilesContext } from '../cache/version-files.js';
import type { VariantChoice } from '../backend/variants.js';
import type { RetryOptions } from '../download/resumable.js';
import type { Manifest } from '../manifest/types.js';
import type { Validator } from '../cache/records.js';
import type { FetchedManifest } from '../update/fetch-manifest.js';
import type { ModelFileBytes } from '../runtime/types.js';
import type { BackendFallback } from '../types.js';

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
}

export interface ResolveContext extends FilesContext {
  /** The variant this device should load from a manifest (chosen with the backend). */
  choose: (manifest: Manifest) => VariantChoice;
  estimate?: Estimate | undefined;
  /** URLs of the models loaded in this context (never evicted to make room). */
  inUse: ReadonlySet<string>;
  /** A manifest fetched by another worker for this load: the first question to the host is answered by it. */
  handoff?: Handoff | undefined;
  /** The manifest this load fetched, if it did (set by the resolver). */
  fetched?: FetchedManifest | undefined;
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
   * a rejection (`CacheMiss`) means the cached copy was altered: drop the session and resolve again.
   */
  verified: Promise<void>;
  /** The cache may still hold a version kept for rollback (dropped once this one has started). */
  keepsPrevious: boolean;
  /** Variants passed over on the way to `variant`, for `info.fallbacks`. */
  variantFallbacks: BackendFallback[];
  /** This load asked the host (so no background check is needed after it). */
  asked: boolean;
}

/** @file The `ondevice/1` manifest, as the library sees it once validated. */
import type { TensorSpec } from '../types.js';

export const MANIFEST_FORMAT = 'ondevice/1';
export const RUNTIMES = ['onnx', 'tfjs-graph', 'tfjs-layers'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];

/** A variant's name: what `publish` writes, and all the loader accepts (`__proto__` and the like are not names). */
export const VARIANT_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/**
 * The largest file a manifest may list: 16 GiB. No browser holds more in one ArrayBuffer (and none
 * runs a model file that large); a bigger size is a broken or hostile manifest, refused before any
 * space is made or memory allocated for it.
 */
export const MAX_FILE_BYTES = 2 ** 34;

export interface ManifestFile {
  /** As written in the manifest (relative to the manifest's URL). */
  path: string;
  /** Absolute URL, resolved against the manifest's URL. */
  url: string;
  size: number;
  sha256: string;
  /** In a release with several graphs: the graph this file belongs to (its `.onnx` or its external data). */
  graph?: string;
}

/**
 * A graph's name: the exporter's file stem as it is (`decoder_with_past_model`, `ch_PP-OCRv4_det_infer`,
 * `hey_jarvis_v0.1`): letters, digits, `.`, `_` and `-`, starting with a letter or digit.
 */
export const GRAPH_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** One graph of a release with several: what it takes and gives. */
export interface ManifestGraph {
  inputs: readonly TensorSpec[];
  outputs: readonly TensorSpec[];
}

/** A file that versions with the weights (tokenizer, vocabulary, config), the same for every variant. */
export interface ManifestAsset extends ManifestFile {
  /** A plain file name (no `/`), unique in the release: what `model.asset(name)` asks for. */
  name: string;
}

export interface ManifestVariant {
  files: readonly ManifestFile[];
  /** Device features the variant needs, e.g. `shader-f16`. */
  requires: readonly string[];
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  name: string;
  version: string;
  runtime: RuntimeName;
  variants: Readonly<Record<string, ManifestVariant>>;
  /** The default graph's (the first graph's, in a release with several). */
  inputs: readonly TensorSpec[];
  outputs: readonly TensorSpec[];
  /** The graphs of a release with several, in the manifest's order (the first is the default); `null` for one graph. */
  graphs: Readonly<Record<string, ManifestGraph>> | null;
  /** Files that version with the weights; `[]` when there are none. */
  assets: readonly ManifestAsset[];
  metadata: Readonly<Record<string, unknown>>;
  revoked: readonly string[];
  /** When the manifest stops being taken as an update or a revocation source (ms since the epoch); `null`: never. */
  expires: number | null;
  /** A staged rollout of this version: devices whose bucket is under `percent` take it; the others keep or load `previous`. */
  rollout: Rollout | null;
}

export interface Rollout {
  /** 0–100. */
  percent: number;
  /** The version devices outside the rollout run (its per-version manifest is `manifest.<previous>.json`). */
  previous: string;
}

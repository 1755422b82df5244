/** @file The `ondevice/1` manifest, as the library sees it once validated. */
import type { TensorSpec } from '../types.js';

export const MANIFEST_FORMAT = 'ondevice/1';
export const RUNTIMES = ['onnx', 'tfjs-graph', 'tfjs-layers'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];

export interface ManifestFile {
  /** As written in the manifest (relative to the manifest's URL). */
  path: string;
  /** Absolute URL, resolved against the manifest's URL. */
  url: string;
  size: number;
  sha256: string;
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
  inputs: readonly TensorSpec[];
  outputs: readonly TensorSpec[];
  metadata: Readonly<Record<string, unknown>>;
  revoked: readonly string[];
}

/**
 * The same releases in Node (an Electron main process, a script, a server), on onnxruntime-node,
 * with a cache on disk: {@link loadModel} takes a manifest path or URL and `cacheDir`;
 * {@link openModelCache} manages a cache directory.
 *
 * @packageDocumentation
 * @module ondevice/node
 */
export { loadModel, type NodeLoadOptions } from './load-model.js';
export { modelCache, openModelCache } from './model-cache.js';
export { defaultCacheDir } from './cache-dir.js';
export { transformersCache, type NodeTransformersCacheOptions } from './transformers-cache.js';
export type { TransformersCache, TransformersCacheOptions, TransformersUpdateInfo } from '../transformers-hook.js';
export { OndeviceError, isOndeviceError } from '../errors.js';
export type { CachedModel, CacheUsage, ModelCache } from '../cache/model-cache.js';
export type { BrowserStoreKind, StoreKind } from '../cache/bytes.js';
export type { OndeviceErrorCode, ErrorDetails, OndeviceErrorOptions } from '../errors.js';
export type {
  Backend,
  BackendFallback,
  BackendPreference,
  OnnxOptions,
  LoadPhase,
  LoadProgress,
  Model,
  ModelInfo,
  ModelStats,
  Tensor,
  TensorDataTypes,
  TensorMap,
  TensorRef,
  TensorSpec,
  RunInputs,
  RunOutputs,
  RunOptions,
  GenerateEncoder,
  GenerateOptions,
  GraphInfo,
  AssetInfo,
  TensorType,
  UpdateCheckResult,
  UpdateInfo,
} from '../types.js';

/**
 * Run machine-learning models on the user's device, in a Web Worker, from a versioned, verified
 * cache that updates in the background: {@link loadModel} loads a release and returns a
 * {@link Model}; {@link modelCache} lists and clears what the device holds; every failure is an
 * {@link OndeviceError} with a stable code.
 *
 * @packageDocumentation
 * @module ondevice
 */
export { loadModel } from './load-model.js';
export { OndeviceError, isOndeviceError } from './errors.js';
export { modelCache } from './cache/model-cache.js';
export { transformersCache } from './transformers-cache.js';
export type { TransformersCache, TransformersCacheOptions, TransformersUpdateInfo } from './transformers-hook.js';
export type { CachedModel, CacheUsage, ModelCache } from './cache/model-cache.js';
export type { BrowserStoreKind, StoreKind } from './cache/bytes.js';
export type { OndeviceErrorCode, ErrorDetails, OndeviceErrorOptions } from './errors.js';
export type {
  Backend,
  BackendFallback,
  BackendPreference,
  LoadOptions,
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
} from './types.js';

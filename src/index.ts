/** @file The public entry: exports only. */
export { loadModel } from './load-model.js';
export { OndeviceError, isOndeviceError } from './errors.js';
export { modelCache } from './cache/model-cache.js';
export type { CachedModel, CacheUsage, ModelCache } from './cache/model-cache.js';
export type { StoreKind } from './cache/bytes.js';
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
  TensorSpec,
  TensorType,
  UpdateCheckResult,
  UpdateInfo,
} from './types.js';

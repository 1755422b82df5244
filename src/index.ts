/** @file The public entry: exports only. */
export { loadModel } from './load-model.js';
export { OndeviceError, isOndeviceError } from './errors.js';
export type { OndeviceErrorCode, ErrorDetails } from './errors.js';
export type {
  Backend,
  BackendFallback,
  BackendPreference,
  LoadOptions,
  LoadPhase,
  LoadProgress,
  Model,
  ModelInfo,
  Tensor,
  TensorDataTypes,
  TensorMap,
  TensorSpec,
  TensorType,
} from './types.js';

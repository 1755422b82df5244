/** @file The load options that need more than a default: checked, and turned into the plain data a load request carries. */
import { OndeviceError } from './errors.js';
import type { LoadRequest } from './pipeline/host.js';
import type { LoadOptions, OnnxOptions } from './types.js';

export function updatePolicy(value: LoadOptions['update']): LoadRequest['update'] {
  if (value === undefined) return 'background';
  if (value === 'background' || value === 'blocking' || value === 'never') return value;
  throw new OndeviceError('INPUT_INVALID', `Option "update" must be 'background', 'blocking' or 'never'; got ${JSON.stringify(value)}.`, {
    details: { input: 'update', actual: value },
  });
}

const OPTIMIZATION_LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;

/** The app's `onnx` settings, checked and copied field by field: nothing else reaches onnxruntime-web. */
export function onnxOptions(value: LoadOptions['onnx']): OnnxOptions | undefined {
  if (value === undefined) return undefined;
  const invalid = (field: string, actual: unknown, expected: string) =>
    new OndeviceError('INPUT_INVALID', `Option "onnx.${field}" must be ${expected}; got ${JSON.stringify(actual)}.`, { details: { input: `onnx.${field}`, actual } });
  if (typeof value !== 'object' || value === null) throw new OndeviceError('INPUT_INVALID', `Option "onnx" must be an object; got ${JSON.stringify(value)}.`, { details: { input: 'onnx', actual: value } });
  const known = new Set(['disablePrepacking', 'graphOptimizationLevel']);
  const unknown = Object.keys(value).find((k) => !known.has(k));
  if (unknown !== undefined) throw new OndeviceError('INPUT_INVALID', `Option "onnx" has no setting "${unknown}"; the settings are ${[...known].join(', ')}.`, { details: { input: `onnx.${unknown}` } });
  const { disablePrepacking, graphOptimizationLevel } = value;
  if (disablePrepacking !== undefined && typeof disablePrepacking !== 'boolean') throw invalid('disablePrepacking', disablePrepacking, 'true or false');
  if (graphOptimizationLevel !== undefined && !OPTIMIZATION_LEVELS.includes(graphOptimizationLevel)) throw invalid('graphOptimizationLevel', graphOptimizationLevel, OPTIMIZATION_LEVELS.map((l) => `'${l}'`).join(', '));
  return { ...(disablePrepacking !== undefined && { disablePrepacking }), ...(graphOptimizationLevel !== undefined && { graphOptimizationLevel }) };
}

export function storagePreference(value: LoadOptions['storage']): LoadRequest['storage'] {
  if (value === undefined) return 'auto';
  if (value === 'auto' || value === 'opfs' || value === 'indexeddb') return value;
  throw new OndeviceError('INPUT_INVALID', `Option "storage" must be 'auto', 'opfs' or 'indexeddb'; got ${JSON.stringify(value)}.`, {
    details: { input: 'storage', actual: value },
  });
}

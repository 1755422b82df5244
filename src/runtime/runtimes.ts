/**
 * @file The runtime adapters by manifest `runtime`, in two families: each of the library's own workers
 * holds one family, so an app that runs only ONNX models never downloads TF.js, and the reverse, even
 * where the app's bundler inlines a worker's dynamic imports into one file (Vite's default).
 */
import type { RuntimeName } from '../manifest/types.js';
import type { RuntimeAdapter } from './types.js';

export type RuntimeFamily = 'onnx' | 'tfjs';

export type Runtimes = Partial<Record<RuntimeName, RuntimeAdapter>>;

export function familyOf(runtime: RuntimeName): RuntimeFamily {
  return runtime === 'onnx' ? 'onnx' : 'tfjs';
}

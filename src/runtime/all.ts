/** @file Every runtime: for `worker: false` and the `ondevice/worker` entry (each adapter still loads its runtime lazily). */
import { onnxRuntime } from './onnx.js';
import type { Runtimes } from './runtimes.js';
import { tfjsRuntime } from './tfjs/adapter.js';

export const allRuntimes: Runtimes = { onnx: onnxRuntime, 'tfjs-layers': tfjsRuntime('layers'), 'tfjs-graph': tfjsRuntime('graph') };

/** @file The library's own worker for TF.js models: wiring only, and no onnxruntime-web anywhere in its imports. */
import { createModelHost } from '../pipeline/host.js';
import { tfjsRuntime } from '../runtime/tfjs/adapter.js';
import { serveModelHost } from './expose.js';

serveModelHost(globalThis, createModelHost({ runtimes: { 'tfjs-layers': tfjsRuntime('layers'), 'tfjs-graph': tfjsRuntime('graph') } }));

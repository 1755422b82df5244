/** @file The library's own worker for ONNX models: wiring only, and no TF.js anywhere in its imports. */
import { createModelHost } from '../pipeline/host.js';
import { onnxRuntime } from '../runtime/onnx.js';
import { serveModelHost } from './expose.js';

serveModelHost(globalThis, createModelHost({ runtimes: { onnx: onnxRuntime } }));

/**
 * @file The library's worker for a model whose runtime is not yet known (its first load on this device):
 * it asks the host for the manifest and hands it to the worker of the runtime it names, having
 * downloaded nothing else. Wiring only; no runtime in its imports.
 */
import { createModelHost } from '../pipeline/host.js';
import { serveModelHost } from './expose.js';

serveModelHost(globalThis, createModelHost({ runtimes: {} }));

/** @file The worker entry for every runtime: wiring only. Apps that bring their own Worker import `ondevice/worker` in it. */
import { createModelHost } from '../pipeline/host.js';
import { allRuntimes } from '../runtime/all.js';
import { serveModelHost } from './expose.js';

serveModelHost(globalThis, createModelHost({ runtimes: allRuntimes }));

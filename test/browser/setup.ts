/**
 * @file Runs before each browser test file (vitest.config.ts, `setupFiles`). An engine's files share
 * one page (non-isolated), so the library's workers and the page's WebGPU context can serve file after
 * file: held for the whole run rather than the library's 2 s, a model's WebGPU pipelines compile once
 * in the page and once in each library worker, not again for every test that comes more than 2 s after
 * the last (SwiftShader compiles them on the CPU, seconds each), and a worker's runtime starts once.
 * Chromium's files took 377 s rather than 465 s (docs/decisions.md). Not in WebKit: JavaScriptCore
 * gives a process few WebAssembly memories, and with workers kept for the run (each memory at its
 * largest) later ones failed with "RangeError: Out of memory". Tests of the linger and the hold
 * themselves set their own and put these back (worker.test.ts).
 */
import { setGpuHold } from '../../src/runtime/onnx.js';
import { setWorkerLinger } from '../../src/worker/client.js';
import { engine } from './engine.js';

/** What the suite's workers and WebGPU contexts are held for: longer than any engine's run; in WebKit the library's default (`undefined`). */
export const SUITE_HOLD_MS: number | undefined = engine.startsWith('webkit') ? undefined : 30 * 60_000;

setWorkerLinger(SUITE_HOLD_MS);
setGpuHold(SUITE_HOLD_MS);

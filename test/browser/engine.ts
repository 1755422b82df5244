/**
 * @file Which engine this page runs in, and what the suite expects that engine to offer. The table
 * is an expectation, not a probe: a test that needs WebGPU is skipped where the engine has none,
 * and the tests that check detection assert the table, so an engine that loses (or gains) a
 * feature fails a test rather than quietly skipping more.
 */
import { server } from 'vitest/browser';
import type { Backend } from '../../src/index.js';

export type Engine = 'chromium' | 'firefox' | 'webkit' | 'webkit-safari';

/** The provider names are the ones test/support/engines.mjs and vitest.config.ts give. */
export const engine: Engine = server.provider === 'webkit-safari-features' ? 'webkit-safari' : (server.browser as Engine);

export interface EngineExpectations {
  /** A WebGPU adapter (Chromium: SwiftShader; Firefox ESR: off on Linux; WebKitGTK: not built in). */
  webgpu: boolean;
  /** A WebGL2 context in an OffscreenCanvas (TF.js makes its own there, in a worker and on the page alike). WebKitGTK under Xvfb has none. */
  webgl: boolean;
  /** `navigator.storage` with `estimate()` (WebKitGTK ships StorageAPI off). */
  storageEstimate: boolean;
  /**
   * The HTTP cache revalidates `cache: 'no-cache'` requests with the stored ETag (a 304). WebKit's
   * automation sessions use an ephemeral data store, as Safari's private browsing does: every check
   * gets the whole manifest (a 200; still no model bytes).
   */
  httpRevalidation: boolean;
  /** The origin private file system, writable from the page and the worker (WebKit's automation sessions are ephemeral: it rejects). */
  opfs: boolean;
}

const TABLE: Record<Engine, EngineExpectations> = {
  chromium: { webgpu: true, webgl: true, storageEstimate: true, httpRevalidation: true, opfs: true },
  firefox: { webgpu: false, webgl: true, storageEstimate: true, httpRevalidation: true, opfs: true },
  webkit: { webgpu: false, webgl: false, storageEstimate: false, httpRevalidation: false, opfs: false },
  'webkit-safari': { webgpu: false, webgl: false, storageEstimate: true, httpRevalidation: false, opfs: false },
};

export const expected: EngineExpectations = TABLE[engine];

/** The best backend `auto` should pick for an ONNX model here. */
export const bestOnnxBackend: Backend = expected.webgpu ? 'webgpu' : 'wasm';

/** Whether the suite expects `backend` to start on this engine. */
export function has(backend: Backend): boolean {
  if (backend === 'webgpu') return expected.webgpu;
  if (backend === 'webgl') return expected.webgl;
  return true;
}

/** The backends of `list` this engine has, in order. */
export function usable<B extends Backend>(list: readonly B[]): B[] {
  return list.filter(has);
}

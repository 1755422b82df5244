/** @file What this device offers: a real WebGPU adapter (not just `navigator.gpu`), WebAssembly, threads. */
import type { Backend } from '../types.js';

interface GpuLike {
  requestAdapter(options?: unknown): Promise<{ features: Iterable<string>; info?: { vendor?: string; architecture?: string } } | null>;
}

/** `label` names the hardware behind a backend where it can (a WebGPU adapter's vendor/architecture). */
export type Availability = { ok: true; features: ReadonlySet<string>; label?: string } | { ok: false; reason: string };

/** What each backend offers on this device, as probed. */
export type Device = ReadonlyMap<Backend, Availability>;

let webGpuProbe: Promise<Availability> | undefined;

/** Asks for an adapter once per context; `navigator.gpu` alone does not mean WebGPU works. */
export function probeWebGpu(): Promise<Availability> {
  webGpuProbe ??= probeWebGpuOnce();
  return webGpuProbe;
}

async function probeWebGpuOnce(): Promise<Availability> {
  if (!globalThis.isSecureContext) return { ok: false, reason: 'WebGPU needs a secure context (https or localhost)' };
  const gpu = (globalThis.navigator as { gpu?: GpuLike } | undefined)?.gpu;
  if (!gpu) return { ok: false, reason: 'this browser has no WebGPU (navigator.gpu is missing)' };
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return { ok: false, reason: 'no WebGPU adapter: navigator.gpu.requestAdapter() returned null (no usable GPU, or it is blocklisted)' };
    const label = [adapter.info?.vendor, adapter.info?.architecture].filter(Boolean).join('/');
    return { ok: true, features: new Set(adapter.features), ...(label && { label }) };
  } catch (error) {
    return { ok: false, reason: `requesting a WebGPU adapter failed: ${error instanceof Error ? error.message : String(error)}` };
  }
}

export function probeWasm(): Availability {
  return typeof WebAssembly === 'object' && typeof WebAssembly.instantiate === 'function'
    ? { ok: true, features: new Set() }
    : { ok: false, reason: 'this environment has no WebAssembly' };
}

let webGlProbe: Availability | undefined;

/** A WebGL context can be made here (a worker needs OffscreenCanvas); features: `webgl2`. */
export function probeWebGl(): Availability {
  webGlProbe ??= probeWebGlOnce();
  return webGlProbe;
}

function probeWebGlOnce(): Availability {
  let canvas: OffscreenCanvas | HTMLCanvasElement | undefined;
  if (typeof OffscreenCanvas === 'function') canvas = new OffscreenCanvas(1, 1);
  else canvas = globalThis.document?.createElement('canvas');
  if (!canvas) return { ok: false, reason: 'WebGL needs a canvas, and this context has neither OffscreenCanvas nor a document' };
  try {
    const gl2 = canvas.getContext('webgl2') as WebGL2RenderingContext | null;
    const gl = gl2 ?? (canvas.getContext('webgl') as WebGLRenderingContext | null);
    if (!gl) return { ok: false, reason: 'no WebGL context could be created (no usable GPU, or WebGL is disabled or blocklisted)' };
    // Browsers cap live contexts; give this one back at once.
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return { ok: true, features: new Set(gl2 ? ['webgl2'] : []) };
  } catch (error) {
    return { ok: false, reason: `creating a WebGL context failed: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/** What each backend offers on this device, whatever the runtime (each runtime says which backends it runs on). */
export async function probeBackend(backend: string): Promise<Availability> {
  if (backend === 'webgpu') return probeWebGpu();
  if (backend === 'wasm') return probeWasm();
  if (backend === 'webgl') return probeWebGl();
  return { ok: true, features: new Set() };
}

/** The globals `wasmThreadCount` reads; a parameter so its rules can be checked without a browser. */
export interface ThreadScope {
  crossOriginIsolated?: boolean;
  SharedArrayBuffer?: unknown;
  navigator?: { hardwareConcurrency?: number };
}

/**
 * WASM threads need SharedArrayBuffer, which browsers give only to cross-origin isolated pages.
 * Asking for threads elsewhere makes onnxruntime-web warn and fall back, so ask only when it works.
 * The flag is not enough: WebKit builds can be `crossOriginIsolated` with `SharedArrayBuffer` still
 * undefined (WebKitGTK without `JSC_useSharedArrayBuffer`), so check the type itself.
 */
export function wasmThreadCount(scope: ThreadScope = globalThis as ThreadScope): number {
  if (!scope.crossOriginIsolated || typeof scope.SharedArrayBuffer !== 'function') return 1;
  const cores = scope.navigator?.hardwareConcurrency ?? 1;
  return Math.max(1, Math.min(4, cores));
}

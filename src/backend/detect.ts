/** @file What this device offers: a real WebGPU adapter (not just `navigator.gpu`), WebAssembly, threads. */

interface GpuLike {
  requestAdapter(options?: unknown): Promise<{ features: Iterable<string> } | null>;
}

export type Availability = { ok: true; features: ReadonlySet<string> } | { ok: false; reason: string };

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
    return { ok: true, features: new Set(adapter.features) };
  } catch (error) {
    return { ok: false, reason: `requesting a WebGPU adapter failed: ${error instanceof Error ? error.message : String(error)}` };
  }
}

export function probeWasm(): Availability {
  return typeof WebAssembly === 'object' && typeof WebAssembly.instantiate === 'function'
    ? { ok: true, features: new Set() }
    : { ok: false, reason: 'this environment has no WebAssembly' };
}

/**
 * WASM threads need SharedArrayBuffer, which browsers give only to cross-origin isolated pages.
 * Asking for threads elsewhere makes onnxruntime-web warn and fall back, so ask only when it works.
 */
/** What each backend offers here, for choosing a variant. WebGL and CPU do not run ONNX models. */
export async function probeBackend(backend: string): Promise<Availability> {
  if (backend === 'webgpu') return probeWebGpu();
  if (backend === 'wasm') return probeWasm();
  return backend === 'cpu'
    ? { ok: false, reason: "onnxruntime-web runs its CPU kernels as WebAssembly: use 'wasm'" }
    : { ok: false, reason: "onnxruntime-web's WebGL backend is deprecated and not bundled: use 'webgpu' or 'wasm'" };
}

export function wasmThreadCount(): number {
  if (!globalThis.crossOriginIsolated) return 1;
  const cores = globalThis.navigator?.hardwareConcurrency ?? 1;
  return Math.max(1, Math.min(4, cores));
}

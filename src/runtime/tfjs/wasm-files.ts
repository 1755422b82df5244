/**
 * @file Where TF.js's WASM backend finds its .wasm files: next to this module, on the app's origin.
 * Each `new URL('./wasm/…', import.meta.url)` is a literal that app bundlers (Vite, webpack, esbuild)
 * recognise and emit as an asset; our own build copies the files into `dist/wasm/` and keeps the
 * expressions verbatim (see vite.config.ts). In this source tree `./wasm/` holds symlinks into
 * node_modules/@tensorflow/tfjs-backend-wasm/dist.
 */
export function wasmFiles(): Record<'tfjs-backend-wasm.wasm' | 'tfjs-backend-wasm-simd.wasm' | 'tfjs-backend-wasm-threaded-simd.wasm', string> {
  return {
    'tfjs-backend-wasm.wasm': new URL('./wasm/tfjs-backend-wasm.wasm', import.meta.url).href,
    'tfjs-backend-wasm-simd.wasm': new URL('./wasm/tfjs-backend-wasm-simd.wasm', import.meta.url).href,
    'tfjs-backend-wasm-threaded-simd.wasm': new URL('./wasm/tfjs-backend-wasm-threaded-simd.wasm', import.meta.url).href,
  };
}

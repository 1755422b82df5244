/**
 * @file Builds the library: `dist/index.js` (the API), `dist/worker-onnx.js` and `dist/worker-tfjs.js` (the library's workers), `dist/worker.js` (every runtime, for apps' own workers) and
 * `dist/cli.js` (the `ondevice` command, Node), ESM, dependencies external, unminified, with
 * declarations from `tsc -p tsconfig.build.json`.
 */
import { readFileSync } from 'node:fs';
import { defineConfig, type Plugin } from 'vite';

const WORKER_EXPRESSIONS = ['resolve', 'tfjs', 'onnx'].map((family) => `new Worker(new URL('./worker-${family}.js', import.meta.url), { type: 'module' })`);
const placeholder = (i: number) => `__ONDEVICE_CREATE_WORKER_${i}__()`;

/**
 * The app's bundler must see `new Worker(new URL('./worker-onnx.js', import.meta.url), …)` in our
 * output to bundle the worker together with onnxruntime-web and emit its .wasm on the app's
 * origin. Vite would otherwise bundle the worker into our own build, with every dependency
 * inlined. So the expression is hidden from Vite's worker plugin and restored after bundling.
 */
function keepWorkerExpression(): Plugin {
  return {
    name: 'ondevice:keep-worker-expression',
    enforce: 'pre',
    transform(code, id) {
      if (!id.endsWith('/src/worker/client.ts')) return null;
      let out = code;
      WORKER_EXPRESSIONS.forEach((expression, i) => {
        if (!out.includes(expression)) this.error(`expected ${expression} in ${id}`);
        out = out.replace(expression, placeholder(i));
      });
      return { code: out, map: null };
    },
    renderChunk(code) {
      if (!code.includes(placeholder(0))) return null;
      let out = code;
      WORKER_EXPRESSIONS.forEach((expression, i) => (out = out.replace(placeholder(i), expression)));
      return { code: out, map: null };
    },
  };
}

const WASM_DIR = 'node_modules/@tensorflow/tfjs-backend-wasm/dist/';
const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

/**
 * TF.js's WASM backend finds its .wasm through `new URL('./wasm/<file>', import.meta.url)` literals
 * (src/runtime/tfjs/wasm-files.ts). In library mode Vite would inline those files as base64; we want
 * the *app's* bundler to emit them on its origin, so the literals are kept verbatim and the files
 * copied to dist/wasm/, next to every chunk.
 */
function keepTfjsWasmUrls(): Plugin {
  const marker = (i: number) => `__ONDEVICE_TFJS_WASM_${i}__`;
  const expression = (file: string) => `new URL('./wasm/${file}', import.meta.url)`;
  return {
    name: 'ondevice:keep-tfjs-wasm-urls',
    enforce: 'pre',
    transform(code, id) {
      if (!id.endsWith('/src/runtime/tfjs/wasm-files.ts')) return null;
      let out = code;
      WASM_FILES.forEach((file, i) => {
        if (!out.includes(expression(file))) this.error(`expected ${expression(file)} in ${id}`);
        out = out.replace(expression(file), `${marker(i)}()`);
      });
      return { code: out, map: null };
    },
    renderChunk(code) {
      if (!code.includes(marker(0))) return null;
      let out = code;
      WASM_FILES.forEach((file, i) => (out = out.replace(`${marker(i)}()`, expression(file))));
      return { code: out, map: null };
    },
    generateBundle() {
      for (const file of WASM_FILES) this.emitFile({ type: 'asset', fileName: `wasm/${file}`, source: readFileSync(`${WASM_DIR}${file}`) });
    },
  };
}

export default defineConfig({
  plugins: [keepWorkerExpression(), keepTfjsWasmUrls()],
  build: {
    target: 'es2022',
    minify: false,
    sourcemap: true,
    emptyOutDir: true,
    lib: {
      // cli: the publisher's command (Node); its chunk starts with a shebang.
      // worker-onnx / worker-tfjs: the library's own workers, one per runtime family; worker-resolve: one with
      // no runtime, for a model's first load; worker: every runtime (for apps' own workers).
      entry: { index: 'src/index.ts', worker: 'src/worker/worker.ts', 'worker-onnx': 'src/worker/worker-onnx.ts', 'worker-tfjs': 'src/worker/worker-tfjs.ts', 'worker-resolve': 'src/worker/worker-resolve.ts', cli: 'src/cli/bin.ts' },
      formats: ['es'],
    },
    rolldownOptions: {
      external: [/^onnxruntime-web(\/|$)/, /^@tensorflow\//, 'comlink', 'idb-keyval', 'onnx-proto', 'onnxruntime-node', /^node:/],
      output: {
        banner: (chunk) => (chunk.name === 'cli' ? '#!/usr/bin/env node' : ''),
        // Every chunk sits next to the worker files, so './worker-*.js' resolves from any of them.
        entryFileNames: '[name].js',
        chunkFileNames: '[name]-[hash].js',
      },
    },
  },
});

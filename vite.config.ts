/**
 * @file Builds the library: `dist/index.js` (the API), `dist/worker-{onnx,tfjs,resolve}.js` (the
 * library's workers), `dist/worker.js` (every runtime, for apps' own workers), `dist/wasm/` (TF.js's
 * .wasm) and `dist/cli.js` (the `ondevice` command, Node), ESM, dependencies external, unminified,
 * with declarations from `tsc -p tsconfig.build.json`.
 */
import { readFileSync } from 'node:fs';
import { defineConfig, type Plugin } from 'vite';

/**
 * Hides `expressions` in the module `file` from Vite during bundling and puts them back, verbatim, in
 * the output. Each is a `new URL('./…', import.meta.url)` that the *app's* bundler must see: Vite
 * would otherwise bundle our workers into our own build (every dependency inlined) and, in library
 * mode, inline .wasm files as base64.
 */
function keepVerbatim(name: string, file: string, expressions: readonly string[]): Plugin {
  const placeholder = (i: number) => `__ONDEVICE_${name.toUpperCase().replace(/\W/g, '_')}_${i}__()`;
  return {
    name: `ondevice:keep-${name}`,
    enforce: 'pre',
    transform(code, id) {
      if (!id.endsWith(file)) return null;
      let out = code;
      expressions.forEach((expression, i) => {
        if (!out.includes(expression)) this.error(`expected ${expression} in ${id}`);
        out = out.replace(expression, placeholder(i));
      });
      return { code: out, map: null };
    },
    renderChunk(code) {
      if (!code.includes(placeholder(0))) return null;
      let out = code;
      expressions.forEach((expression, i) => (out = out.replace(placeholder(i), expression)));
      return { code: out, map: null };
    },
  };
}

/** The library's workers, one per runtime family and one with none (src/worker/client.ts). */
const keepWorkers = keepVerbatim(
  'workers',
  '/src/worker/client.ts',
  ['resolve', 'tfjs', 'onnx'].map((family) => `new Worker(new URL('./worker-${family}.js', import.meta.url), { type: 'module' })`),
);

const WASM_DIR = 'node_modules/@tensorflow/tfjs-backend-wasm/dist/';
const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

/** TF.js's WASM backend's .wasm files (src/runtime/tfjs/wasm-files.ts), copied to dist/wasm/, next to every chunk. */
function keepTfjsWasm(): Plugin {
  return {
    ...keepVerbatim('tfjs-wasm', '/src/runtime/tfjs/wasm-files.ts', WASM_FILES.map((file) => `new URL('./wasm/${file}', import.meta.url)`)),
    generateBundle() {
      for (const file of WASM_FILES) this.emitFile({ type: 'asset', fileName: `wasm/${file}`, source: readFileSync(`${WASM_DIR}${file}`) });
    },
  };
}

export default defineConfig({
  plugins: [keepWorkers, keepTfjsWasm()],
  build: {
    target: 'es2022',
    minify: false,
    sourcemap: true,
    emptyOutDir: true,
    lib: {
      // cli: the publisher's command (Node); its chunk starts with a shebang.
      // worker-onnx / worker-tfjs: the library's own workers, one per runtime family; worker-resolve: one with
      // no runtime, for a model's first load; worker: every runtime (for apps' own workers).
      entry: { index: 'src/index.ts', worker: 'src/worker/worker.ts', 'worker-onnx': 'src/worker/worker-onnx.ts', 'worker-tfjs': 'src/worker/worker-tfjs.ts', 'worker-resolve': 'src/worker/worker-resolve.ts', cli: 'src/cli/bin.ts', node: 'src/node/index.ts' },
      formats: ['es'],
    },
    rolldownOptions: {
      external: [/^onnxruntime-web(\/|$)/, /^@tensorflow\//, 'comlink', 'idb-keyval', 'onnx-proto', 'onnxruntime-node', 'proper-lockfile', 'env-paths', 'prom-client', /^node:/],
      output: {
        banner: (chunk) => (chunk.name === 'cli' ? '#!/usr/bin/env node' : ''),
        // Every chunk sits next to the worker files, so './worker-*.js' resolves from any of them.
        entryFileNames: '[name].js',
        chunkFileNames: '[name]-[hash].js',
      },
    },
  },
});

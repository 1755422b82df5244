/** @file The demo's dev server: the pages from examples/, the published models from models/, and the model hosts the pages' publisher panels drive (demo-host.ts, release-host.ts). */
import { createReadStream, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { demoHost } from './demo-host.js';
import { releaseHost } from './release-host.js';

const models = (path: string) => fileURLToPath(new URL(`../models/${path}`, import.meta.url));

/** transformers.js's own onnxruntime-web WASM build, from this origin (it would come from a CDN otherwise). */
function transformersRuntime(): Plugin {
  const dist = ['../node_modules/@huggingface/transformers/node_modules/onnxruntime-web/dist/', '../node_modules/onnxruntime-web/dist/']
    .map((p) => fileURLToPath(new URL(p, import.meta.url)))
    .find((p) => existsSync(`${p}ort-wasm-simd-threaded.asyncify.wasm`));
  return {
    name: 'ondevice-transformers-runtime',
    configureServer(server) {
      server.middlewares.use('/ort', (req, res) => {
        const name = new URL(req.url ?? '/', 'http://x').pathname.slice(1);
        if (!dist || !/^ort-wasm-simd-threaded\.asyncify\.(mjs|wasm)$/.test(name)) return void res.writeHead(404).end();
        res.setHeader('Content-Type', name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript');
        createReadStream(`${dist}${name}`).pipe(res);
      });
    },
  };
}

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // The demo's "model host": models/ as static files (/digits/release/manifest.json).
  publicDir: fileURLToPath(new URL('../models', import.meta.url)),
  resolve: {
    // `import … from 'ondevice'` as in an app, served from this repo's source.
    alias: { ondevice: fileURLToPath(new URL('../src/index.ts', import.meta.url)) },
  },
  plugins: [
    demoHost(),
    releaseHost('reverse', { '1.0.0': models('seq2seq/v1'), '2.0.0': models('seq2seq/v2') }),
    releaseHost('tiny-bert', { '1.0.0': models('tiny-bert/v1'), '2.0.0': models('tiny-bert/v2') }),
    transformersRuntime(),
  ],
  optimizeDeps: { include: ['@huggingface/transformers'] },
  server: { host: 'localhost', port: 5173 },
  // Three pages: the digits demo (index.html), the encoder–decoder example (reverse.html), transformers.js (embed.html).
  build: { rollupOptions: { input: ['index.html', 'reverse.html', 'embed.html'].map((p) => fileURLToPath(new URL(p, import.meta.url))) } },
});

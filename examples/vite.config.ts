/** @file The demo's dev server: the page from examples/, the published models from models/, and a model host the page's publisher panel drives (demo-host.ts). */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { demoHost } from './demo-host.js';
import { reverseHost } from './reverse-host.js';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // The demo's "model host": models/ as static files (/digits/release/manifest.json).
  publicDir: fileURLToPath(new URL('../models', import.meta.url)),
  resolve: {
    // `import … from 'ondevice'` as in an app, served from this repo's source.
    alias: { ondevice: fileURLToPath(new URL('../src/index.ts', import.meta.url)) },
  },
  plugins: [demoHost(), reverseHost()],
  server: { host: 'localhost', port: 5173 },
  // Two pages: the digits demo (index.html) and the encoder–decoder example (reverse.html).
  build: { rollupOptions: { input: ['index.html', 'reverse.html'].map((p) => fileURLToPath(new URL(p, import.meta.url))) } },
});

/** @file The demo's dev server: the page from examples/, the published models from models/. */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // The demo's "model host": models/ as static files (/digits/release/manifest.json).
  publicDir: fileURLToPath(new URL('../models', import.meta.url)),
  resolve: {
    // `import … from 'ondevice'` as in an app, served from this repo's source.
    alias: { ondevice: fileURLToPath(new URL('../src/index.ts', import.meta.url)) },
  },
  server: { host: 'localhost', port: 5173 },
});

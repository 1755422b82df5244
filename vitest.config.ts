/** @file Two projects: pure logic in Node, everything that touches a browser API in real headless Chromium. */
import { playwright } from '@vitest/browser-playwright';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { CHROMIUM_ARGS, chromiumPath } from './scripts/chromium-path.mjs';
import { DEFAULT_ENGINES, SAFARI_FEATURES, firefox, webkit } from './test/support/engines.mjs';

/** `import … from 'ondevice'` / `'ondevice/node'` (as the examples write it) is this repo's source. */
const ALIASES = [
  { find: /^ondevice$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
  { find: /^ondevice\/node$/, replacement: fileURLToPath(new URL('./src/node/index.ts', import.meta.url)) },
];

/**
 * The browser suite, once per engine: Chromium (Playwright), Firefox ESR (WebDriver BiDi), WebKitGTK
 * as shipped and WebKitGTK with Safari's storage features on. `ONDEVICE_ENGINES=chromium,firefox`
 * runs a subset. One engine at a time (groupOrder): the machine has 2 cores.
 */
const ENGINES = {
  chromium: () => playwright({ launchOptions: { executablePath: chromiumPath() ?? 'chromium', args: CHROMIUM_ARGS } }),
  firefox: () => firefox(),
  webkit: () => webkit(),
  'webkit-safari': () => webkit({ features: [SAFARI_FEATURES] }),
} as const;
type Engine = keyof typeof ENGINES;
const SAFARI_FEATURE_TESTS = ['cache', 'quota', 'engines', 'hardening', 'crash-guard'].map((name) => `test/browser/${name}.test.ts`);
const selected = (process.env.ONDEVICE_ENGINES ?? DEFAULT_ENGINES).split(',').map((e) => e.trim()).filter(Boolean);
for (const e of selected) if (!(e in ENGINES)) throw new Error(`ONDEVICE_ENGINES: unknown engine "${e}" (known: ${Object.keys(ENGINES).join(', ')})`);

/**
 * Every dependency the browser tests and the library's workers import, optimised once when each
 * project's server starts. Left to discovery, a dependency first met mid-run (a worker's runtime)
 * re-optimises and reloads the page under the tests, which WebKit's session does not survive.
 */
const BROWSER_DEPS = [
  '@huggingface/transformers',
  '@tensorflow/tfjs-backend-cpu',
  '@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.fesm.js',
  '@tensorflow/tfjs-backend-webgl',
  '@tensorflow/tfjs-backend-webgpu',
  '@tensorflow/tfjs-converter',
  '@tensorflow/tfjs-core',
  '@tensorflow/tfjs-layers',
  'canonicalize',
  'comlink',
  'hash-wasm',
  'idb-keyval',
  'onnxruntime-web/wasm',
  'onnxruntime-web/webgpu',
];

/** Groups: engines never share one. (vitest starts the browser groups in an order of its own.) */
const GROUP: Record<Engine, number> = { chromium: 0, firefox: 1, webkit: 2, 'webkit-safari': 3 };

const browserProjects = (selected as Engine[]).map((engine) => ({
  optimizeDeps: { include: BROWSER_DEPS },
  // Engines run in separate vitest processes at once (scripts/test.mjs): each optimises its
  // dependencies into a cache of its own, never into one another's.
  cacheDir: `node_modules/.vite/ondevice-${engine}`,
  resolve: { alias: ALIASES },
  test: {
    name: engine === 'chromium' ? 'browser' : `browser-${engine}`,
    // WebKit with Safari's storage features differs from WebKit as shipped only in storage: it runs
    // the tests that touch storage (the rest run once per engine already).
    include: engine === 'webkit-safari' ? SAFARI_FEATURE_TESTS : ['test/browser/**/*.test.ts'],
    // examples/electron's renderer half: Electron's renderers are Chromium. Kept out of the other
    // engines' pages altogether (WebKit's is shared by every file, see `isolate` below).
    exclude: engine === 'chromium' ? [] : ['test/browser/electron-example.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // The library's workers and WebGPU contexts held for the whole run in Chromium and Firefox (test/browser/setup.ts).
    setupFiles: ['test/browser/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // One page at a time: the machine has 2 cores and SwiftShader is CPU-hungry.
    fileParallelism: false,
    // One engine at a time (scripts/test.mjs runs the Node projects beside them, in a vitest of their
    // own; ONDEVICE_PARALLEL=engines gives each engine its own as well).
    sequence: { groupOrder: GROUP[engine] },
    browser: {
      enabled: true,
      headless: true,
      // Non-isolated: one iframe serves every file of the project. WebKit sometimes never fires an
      // iframe's load event, and vitest waits for it without a bound (vitest-dev/vitest#11243): the run
      // hangs with no output, so that wait must happen once, not once a file. In Chromium and Firefox
      // the page's modules and onnxruntime-web's runtimes then start once, not once a file (Chromium's
      // project: 701 s isolated, 442 s not; docs/decisions.md). Module state is shared between files;
      // the tests reset what they change.
      isolate: false,
      screenshotFailures: false,
      provider: ENGINES[engine](),
      instances: [{ browser: engine === 'webkit-safari' ? 'webkit' : engine }],
    },
  },
}));

export default defineConfig({
  test: {
    projects: [
      {
        resolve: { alias: ALIASES },
        test: {
          name: 'node',
          include: ['test/node/**/*.test.ts'],
          environment: 'node',
          // A bound for a hung test, not a speed check: these run beside the browser engines, and on a
          // busy CI machine a test that hashes a few files (hashers.test.ts) once took past vitest's 5 s.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'package',
          include: ['test/package/**/*.test.ts'],
          environment: 'node',
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
      ...browserProjects,
    ],
  },
});

/**
 * @file The package as a user gets it: `npm pack`, install the tarball into a fresh Vite app with no
 * bundler configuration, build it, serve it under a strict CSP, and run the digits model in Chromium
 * on WebGPU and WASM. Catches broken worker URLs, missing .wasm assets and a wrong `exports` map.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import sirv from 'sirv';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CHROMIUM_ARGS, chromiumPath } from '../../scripts/chromium-path.mjs';
import { referenceLogits } from '../support/digits.mjs';
import { tfjsReferenceLogits } from '../support/digits-tfjs.mjs';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
// The app's server sends this on every response: no CDN, no eval, no blob: workers.
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'";
const WASM_ONLY = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-gpu'];

interface AppResult {
  info?: { backend: string; variant: string; runtime: string; fallbacks: Array<{ backend: string; variant?: string; reason: string }> };
  logits?: number[];
  error?: { code: string; message: string };
}
declare global {
  interface Window {
    result?: AppResult;
  }
}

let work: string;
let app: string;
let server: Server;
let origin: string;
const requests: string[] = [];
let references: Record<string, { logits: number[] }>;
/** The app's built JS chunks holding TF.js (tfjs-core) and onnxruntime-web. */
const chunks = { tfjs: [] as string[], ort: [] as string[] };

function sh(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false' } });
}

beforeAll(async () => {
  references = { fp32: await referenceLogits('release', 'fp32'), int8: await referenceLogits('release', 'int8'), tfjs: await tfjsReferenceLogits('layers') };
  work = mkdtempSync(join(tmpdir(), 'ondevice-pack-'));
  sh('npm', ['run', 'build', '--silent'], REPO);
  const tarball = sh('npm', ['pack', '--silent', '--pack-destination', work], REPO).trim().split('\n').pop()!;
  app = join(work, 'app');
  cpSync(fileURLToPath(new URL('./app/', import.meta.url)), app, { recursive: true });
  // The README's browser example, as written, for the app to run (?readme) and type-check.
  const example = /```ts\n(import \{ loadModel \} from 'ondevice';[\s\S]*?)```/.exec(readFileSync(join(REPO, 'README.md'), 'utf8'))?.[1];
  if (!example) throw new Error("README.md has no browser example (a ts block starting with import { loadModel } from 'ondevice')");
  writeFileSync(join(app, 'readme-example.ts'), `${example}\nexport {};\n`);
  const viteVersion = (JSON.parse(readFileSync(join(REPO, 'node_modules/vite/package.json'), 'utf8')) as { version: string }).version;
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'throwaway-app', private: true, type: 'module', dependencies: { ondevice: `file:../${tarball}` }, devDependencies: { vite: viteVersion } }));
  // The npm cache already holds every dependency after the repo's own install.
  sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], app);
  // The app's own static files: Vite serves public/ in dev and copies it into dist/ on build.
  const models = join(app, 'public/models/digits');
  mkdirSync(models, { recursive: true });
  cpSync(join(REPO, 'models/digits/release'), models, { recursive: true });
  cpSync(join(REPO, 'models/digits/test-set.bin'), join(models, 'test-set.bin'));
  cpSync(join(REPO, 'models/digits-tfjs/layers'), join(app, 'public/models/digits-layers'), { recursive: true });
  sh('npx', ['vite', 'build', '--logLevel', 'warn'], app);
  // Tell the runtimes' chunks apart by what only each contains.
  for (const f of readdirSync(join(app, 'dist/assets')).filter((f) => f.endsWith('.js'))) {
    const code = readFileSync(join(app, 'dist/assets', f), 'utf8');
    if (code.includes('tfjsflags')) chunks.tfjs.push(`/assets/${f}`);
    if (code.includes('onnxruntime-web')) chunks.ort.push(`/assets/${f}`);
  }

  const files = sirv(join(app, 'dist'), { dev: false, etag: true });
  server = createServer((req, res) => {
    requests.push(new URL(req.url ?? '/', 'http://x').pathname);
    // ?csp=no-workers: a page whose policy forbids workers (worker-src 'none').
    const noWorkers = new URL(req.url ?? '/', 'http://x').searchParams.get('csp') === 'no-workers';
    res.setHeader('Content-Security-Policy', noWorkers ? CSP.replace("worker-src 'self'", "worker-src 'none'") : CSP);
    files(req, res, () => {
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  // localhost: a secure context, which WebGPU and WebCrypto need.
  origin = `http://localhost:${address.port}`;
}, 300_000);

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  if (work) rmSync(work, { recursive: true, force: true });
});

async function openApp(browser: Browser, query: string, at = origin) {
  requests.length = 0;
  const page = await browser.newPage();
  const offOrigin: string[] = [];
  const cspViolations: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(at)) offOrigin.push(r.url());
  });
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  await page.goto(`${at}/${query}`);
  await page.waitForFunction(() => window.result !== undefined, undefined, { timeout: 120_000 });
  const result = (await page.evaluate(() => window.result))!;
  await page.close();
  return { result, offOrigin, cspViolations, requested: [...requests] };
}

/** onnxruntime-node's numbers for the variant that ran. */
function expectReferenceNumbers(result: AppResult): void {
  const { logits } = result;
  expect(logits).toHaveLength(200);
  const reference = references[result.info!.runtime === 'onnx' ? result.info!.variant : 'tfjs']!;
  const diff = Math.max(...logits!.map((v, i) => Math.abs(v - reference.logits[i]!)));
  expect(diff).toBeLessThanOrEqual(1e-4);
}

test('the build emits the worker and onnxruntime-web\'s .wasm files as the app\'s own assets', () => {
  const assets = readdirSync(join(app, 'dist/assets'));
  expect(assets.some((f) => /^worker-.*\.js$/.test(f))).toBe(true);
  expect(assets.some((f) => /^ort-wasm-simd-threaded-.*\.wasm$/.test(f) && !f.includes('asyncify'))).toBe(true);
  expect(assets.some((f) => /^ort-wasm-simd-threaded\.asyncify-.*\.wasm$/.test(f))).toBe(true);
});

test("the build emits TF.js's .wasm files as the app's own assets, and keeps TF.js and onnxruntime-web in chunks of their own", () => {
  const assets = readdirSync(join(app, 'dist/assets'));
  for (const name of ['tfjs-backend-wasm', 'tfjs-backend-wasm-simd', 'tfjs-backend-wasm-threaded-simd']) {
    expect(assets.some((f) => new RegExp(`^${name}-[\\w-]{8}\\.wasm$`).test(f)), name).toBe(true);
  }
  expect(chunks.tfjs.length).toBeGreaterThan(0);
  expect(chunks.ort.length).toBeGreaterThan(0);
  // No chunk holds both: an app pays for a runtime only when a model needs it.
  expect(chunks.tfjs.filter((c) => chunks.ort.includes(c))).toEqual([]);
});

test("the README's browser example runs as written: it loads the release, logs what runs, runs and disposes", async () => {
  const browser = await chromium.launch({ executablePath: chromiumPath() ?? 'chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const logs: string[] = [];
    page.on('console', (m) => logs.push(m.text()));
    await page.goto(`${origin}/?readme`);
    await page.waitForFunction(() => window.result !== undefined, undefined, { timeout: 120_000 });
    expect(await page.evaluate(() => window.result)).toEqual({});
    // Its progress lines, then model.info's backend, variant and fallbacks.
    expect(logs).toContain('manifest ');
    expect(logs.some((l) => /^(webgpu|wasm) (fp32|int8|fp16) /.test(l))).toBe(true);
  } finally {
    await browser.close();
  }
});

test('the packed types resolve through the exports map, with no @types/node and no skipLibCheck for the browser entry', () => {
  expect(() => sh(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', app], app)).not.toThrow();
});

test('the `ondevice` command runs from the installed package: help, quantize, publish', () => {
  expect(sh('npx', ['ondevice', '--help'], app)).toMatch(/^ondevice: quantize, verify and publish/);
  const fp32 = join(app, 'public/models/digits', readdirSync(join(app, 'public/models/digits')).find((f) => f.includes('.fp32.'))!);
  const dir = join(work, 'cli-model');
  sh('npx', ['ondevice', 'quantize', fp32, '--to', 'int8', '-o', join(dir, 'int8.onnx')], app);
  cpSync(fp32, join(dir, 'fp32.onnx'));
  expect(sh('npx', ['ondevice', 'publish', dir, join(work, 'cli-release'), '--version', '2.0.0', '--name', 'digits'], app)).toMatch(/published digits 2\.0\.0 \(fp32, int8\)/);
  // verify needs onnxruntime-node, an optional peer the app did not install: a clear message, exit 1.
  let failure: { status?: number; stderr?: string } = {};
  try {
    sh('npx', ['ondevice', 'verify', join(work, 'cli-release'), '--data', join(REPO, 'models/digits/test-set.json')], app);
  } catch (error) {
    failure = error as typeof failure;
  }
  expect(failure.status).toBe(1);
  expect(failure.stderr).toMatch(/install it \(npm install -D onnxruntime-node\)/);
});

describe('in Chromium with a WebGPU adapter', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: chromiumPath() ?? 'chromium', args: CHROMIUM_ARGS });
  });
  afterAll(() => browser?.close());

  test("'auto' runs on WebGPU with onnxruntime-node's numbers, from the app's origin only, under a strict CSP", async () => {
    const { result, offOrigin, cspViolations, requested } = await openApp(browser, '');
    expect(result.error).toBeUndefined();
    // SwiftShader has no shader-f16, so fp32 rather than fp16, and the report says why.
    expect(result.info).toMatchObject({ backend: 'webgpu', fallbacks: [{ backend: 'webgpu', variant: 'fp16', reason: expect.stringMatching(/shader-f16/) }], name: 'digits', version: '1.0.0', variant: 'fp32' });
    expectReferenceNumbers(result);
    expect(offOrigin).toEqual([]);
    expect(cspViolations).toEqual([]);
    expect(requested.filter((p) => p.endsWith('.wasm'))).toEqual([expect.stringMatching(/\/assets\/ort-wasm-simd-threaded\.asyncify-.*\.wasm$/)]);
    // An ONNX model downloads no TF.js.
    expect(requested.filter((p) => chunks.tfjs.includes(p))).toEqual([]);
  });

  test.each(['auto', 'webgl', 'wasm'])("a TF.js model on %s: TF.js's numbers, only its own chunks and .wasm, no onnxruntime-web", async (backend) => {
    const { result, offOrigin, cspViolations, requested } = await openApp(browser, `?model=tfjs&backend=${backend}`);
    expect(result.error).toBeUndefined();
    expect(result.info).toMatchObject({ runtime: 'tfjs-layers', backend: backend === 'auto' ? 'webgpu' : backend, fallbacks: [] });
    expectReferenceNumbers(result);
    expect(offOrigin).toEqual([]);
    expect(cspViolations).toEqual([]);
    expect(requested.filter((p) => chunks.tfjs.includes(p)).length).toBeGreaterThan(0);
    expect(requested.filter((p) => chunks.ort.includes(p) || p.includes('ort-wasm'))).toEqual([]);
    const wasm = requested.filter((p) => p.endsWith('.wasm'));
    expect(wasm).toEqual(backend === 'wasm' ? [expect.stringMatching(/\/assets\/tfjs-backend-wasm-simd-[\w-]{8}\.wasm$/)] : []);
  });

  test("'wasm' runs int8 on WebAssembly and downloads only the plain WASM build", async () => {
    const { result, requested } = await openApp(browser, '?backend=wasm');
    expect(result.error).toBeUndefined();
    expect(result.info).toMatchObject({ backend: 'wasm', variant: 'int8' });
    expectReferenceNumbers(result);
    expect(requested.filter((p) => p.endsWith('.wasm'))).toEqual([expect.stringMatching(/\/assets\/ort-wasm-simd-threaded-[^.]*\.wasm$/)]);
    expect(requested.filter((p) => chunks.tfjs.includes(p))).toEqual([]);
  });

  test('a page whose CSP forbids workers gets WORKER_CRASHED saying what to allow, not a hang', async () => {
    const { result } = await openApp(browser, '?csp=no-workers');
    expect(result.error?.code).toBe('WORKER_CRASHED');
    expect(result.error?.message).toMatch(/worker-src 'self'|worker: false/);
  });
});

describe('in Chromium without WebGPU', () => {
  test("'auto' falls back to WASM, says why, and never downloads the WebGPU build", async () => {
    const browser = await chromium.launch({ executablePath: chromiumPath() ?? 'chromium', args: WASM_ONLY });
    try {
      const { result, requested } = await openApp(browser, '');
      expect(result.error).toBeUndefined();
      expect(result.info).toMatchObject({ backend: 'wasm', variant: 'int8' });
      expect(result.info?.fallbacks).toEqual([{ backend: 'webgpu', reason: expect.stringMatching(/WebGPU/) }]);
      expectReferenceNumbers(result);
      expect(requested.some((p) => p.includes('asyncify') || p.includes('jsep'))).toBe(false);
    } finally {
      await browser.close();
    }
  });
});

/**
 * TF.js's packages import CommonJS (seedrandom, long, emscripten glue), which Vite's dev server converts
 * only for dependencies it pre-bundles, and it does not look inside a dependency's workers for them.
 * So a dev server running TF.js models lists them (README, "TF.js models"); built apps need nothing.
 */
const TFJS_DEV_DEPS = [
  '@tensorflow/tfjs-core',
  '@tensorflow/tfjs-layers',
  '@tensorflow/tfjs-converter',
  '@tensorflow/tfjs-backend-cpu',
  '@tensorflow/tfjs-backend-webgl',
  '@tensorflow/tfjs-backend-webgpu',
  '@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.fesm.js',
];

test('on a plain-http page that is not a secure context (no WebCrypto, no Web Locks), a revisit runs from the cache: each model file is downloaded once', async () => {
  // A LAN address, as a phone testing an app would use: not localhost, so not a secure context.
  const browser = await chromium.launch({ executablePath: chromiumPath() ?? 'chromium', args: [...WASM_ONLY, '--host-resolver-rules=MAP insecure.test 127.0.0.1'] });
  try {
    const at = origin.replace('localhost', 'insecure.test');
    const context = await browser.newContext();
    const visits: Array<{ result: AppResult; secure: boolean; files: string[] }> = [];
    for (let i = 0; i < 2; i++) {
      requests.length = 0;
      const page = await context.newPage();
      await page.goto(`${at}/?backend=wasm`);
      await page.waitForFunction(() => window.result !== undefined, undefined, { timeout: 120_000 });
      visits.push({ result: (await page.evaluate(() => window.result))!, secure: await page.evaluate(() => isSecureContext), files: requests.filter((p) => /^\/models\/digits\/digits\..*\.onnx$/.test(p)) });
      await page.close();
    }
    for (const visit of visits) {
      expect(visit.secure).toBe(false);
      expect(visit.result.error).toBeUndefined();
      expectReferenceNumbers(visit.result);
    }
    expect(visits[0]!.files).toHaveLength(1);
    expect(visits[1]!.files).toEqual([]);
  } finally {
    await browser.close();
  }
});

describe("the app's Vite dev server", () => {
  test.each<[string, string[], string[]]>([
    ['with no configuration, the ONNX model on WASM and WebGPU', [], ['backend=wasm', 'backend=webgpu']],
    ["with TF.js in optimizeDeps.include, the TF.js model on WASM and WebGL", TFJS_DEV_DEPS, ['model=tfjs&backend=wasm', 'model=tfjs&backend=webgl']],
  ])('%s, from node_modules', async (_, include, queries) => {
    type Vite = typeof import('vite');
    const vite = (await import(join(app, 'node_modules/vite/dist/node/index.js'))) as Vite;
    rmSync(join(app, 'node_modules/.vite'), { recursive: true, force: true });
    const dev = await vite.createServer({ root: app, configFile: false, logLevel: 'error', server: { host: 'localhost', port: 0 }, ...(include.length > 0 && { optimizeDeps: { include } }) });
    await dev.listen();
    const browser = await chromium.launch({ executablePath: chromiumPath() ?? 'chromium', args: CHROMIUM_ARGS });
    try {
      const at = dev.resolvedUrls!.local[0]!.replace(/\/$/, '');
      for (const query of queries) {
        const { result, offOrigin } = await openApp(browser, `?${query}`, at);
        expect(result.error, `${query}: ${JSON.stringify(result.error)}`).toBeUndefined();
        expect(result.info?.backend).toBe(query.split('backend=')[1]);
        expectReferenceNumbers(result);
        expect(offOrigin).toEqual([]);
      }
    } finally {
      await browser.close();
      await dev.close();
    }
  });
});

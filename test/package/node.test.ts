/**
 * @file `ondevice/node` as a user gets it: the packed tarball installed with onnxruntime-node into a
 * fresh Node project, the README's Node snippet run as written, its types resolved through the
 * exports map, `ondevice serve` from the installed bin, and a project without onnxruntime-node.
 */
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
let work: string;
let tarball: string;
let project: string;

const version = (name: string) => (JSON.parse(readFileSync(join(REPO, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

function sh(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false', ONNXRUNTIME_NODE_INSTALL: 'skip', ...env } });
}

/** A fresh project with these dependencies, and the digits release in ./models/digits. */
function freshProject(name: string, dependencies: Record<string, string>, devDependencies: Record<string, string> = {}): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module', dependencies, devDependencies }));
  // The npm cache already holds every dependency after the repo's own install.
  sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], dir);
  cpSync(join(REPO, 'models/digits/release'), join(dir, 'models/digits'), { recursive: true });
  return dir;
}

/** The README's Node snippet, exactly as written there. */
function readmeSnippet(): string {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const block = /<!-- node-snippet:[^\n]*-->\n```js\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('README.md has no node-snippet block');
  return block;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ondevice-pack-node-'));
  sh('npm', ['run', 'build', '--silent'], REPO);
  // `npx ondevice` in the repo runs the built bin as it is: it must be executable.
  expect(statSync(join(REPO, 'dist/cli.js')).mode & 0o111).toBe(0o111);
  tarball = join(work, sh('npm', ['pack', '--silent', '--pack-destination', work], REPO).trim().split('\n').pop()!);
  project = freshProject('node-app', { ondevice: `file:${tarball}`, 'onnxruntime-node': version('onnxruntime-node') }, { typescript: version('typescript'), '@types/node': version('@types/node') });
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test("the README's Node snippet runs as written, caches under $ONDEVICE_CACHE_DIR, and the process ends by itself", async () => {
  writeFileSync(join(project, 'index.mjs'), readmeSnippet());
  const cache = join(work, 'cache');
  const run = () => {
    const [first, ...rest] = sh(process.execPath, ['index.mjs'], project, { ONDEVICE_CACHE_DIR: cache }).trim().split('\n');
    return { first, logits: JSON.parse(rest.join('')) as number[] };
  };
  const { first, logits } = run();
  // On a CPU, 'auto' picks the smallest variant the backend runs well.
  expect(first).toBe('1.0.0 int8 cpu');
  // onnxruntime-node on the same file, zeros in.
  const ort = (await import('onnxruntime-node')).default;
  const manifest = JSON.parse(readFileSync(join(project, 'models/digits/manifest.json'), 'utf8')) as { variants: Record<string, { files: Array<{ path: string }> }> };
  const session = await ort.InferenceSession.create(join(project, 'models/digits', manifest.variants['int8']!.files[0]!.path));
  const reference = await session.run({ image: new ort.Tensor('float32', new Float32Array(64), [1, 1, 8, 8]) });
  await session.release();
  expect(logits).toHaveLength(10);
  expect(Math.max(...logits.map((v, i) => Math.abs(v - (reference['logits']!.data as Float32Array)[i]!)))).toBeLessThanOrEqual(1e-5);
  // A second run reads the disk cache: nothing downloaded, same answer.
  expect(run().logits).toEqual(logits);
  expect(readdirSync(join(cache, 'content'))).toHaveLength(1);
}, 60_000);

test("'ondevice/node' types resolve through the exports map and compile with @types/node, no skipLibCheck", () => {
  writeFileSync(
    join(project, 'check.ts'),
    `import { loadModel, openModelCache, type Model, type NodeLoadOptions } from 'ondevice/node';
const options: NodeLoadOptions = { cacheDir: '/tmp/x', backend: ['cuda', 'cpu'], update: 'background' };
const model: Model = await loadModel('./models/digits/manifest.json', options);
const usage: number = (await openModelCache('/tmp/x').usage()).bytes;
export { model, usage };
`,
  );
  // The Node entry's declarations need Node's types (a Node project has them); nothing skipped.
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', target: 'es2022', strict: true, noEmit: true, types: ['node'], skipLibCheck: false }, files: ['check.ts'] }));
  expect(() => sh(process.execPath, [join(project, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], project)).not.toThrow();
});

test('`ondevice serve` from the installed package answers an inference request', async () => {
  const proc = spawn(join(project, 'node_modules/.bin/ondevice'), ['serve', './models/digits/manifest.json', '--port', '0', '--cache-dir', join(work, 'serve-cache')], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      proc.stdout.on('data', (c: Buffer) => {
        const m = /on (http:\/\/\S+)/.exec(c.toString());
        if (m) resolve(m[1]!);
      });
      proc.once('exit', (code) => reject(new Error(`ondevice serve exited ${code}`)));
    });
    // It listens at once; ready says when the model has loaded (as Triton's does).
    for (let ready = false; !ready; ready = (await fetch(`${url}/v2/health/ready`)).status === 200) await new Promise((r) => setTimeout(r, 50));
    const response = await fetch(`${url}/v2/models/digits/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'image', shape: [1, 1, 8, 8], datatype: 'FP32', data: new Array(64).fill(0) }] }) });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ model_name: 'digits', model_version: '1.0.0', outputs: [{ name: 'logits', shape: [1, 10] }] });
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }
}, 60_000);

test("the README's publishing commands run as written, in order, in a project that installed the package", async () => {
  const block = /## Publish a model[\s\S]*?```sh\n([\s\S]*?)```/.exec(readFileSync(join(REPO, 'README.md'), 'utf8'))?.[1];
  expect(block).toBeDefined();
  const lines = block!.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter(Boolean);
  expect(lines.every((l) => l.startsWith('npx ondevice '))).toBe(true);
  // What the commands start from: an exported model and a test set, as a publisher has them.
  const dir = join(work, 'publisher');
  mkdirSync(join(dir, 'model'), { recursive: true });
  cpSync(join(REPO, 'models/digits/release', JSON.parse(readFileSync(join(REPO, 'models/digits/release/manifest.json'), 'utf8')).variants.fp32.files[0].path), join(dir, 'model/fp32.onnx'));
  cpSync(join(REPO, 'models/digits/test-set.json'), join(dir, 'test-set.json'));
  cpSync(join(REPO, 'models/digits/test-set.bin'), join(dir, 'test-set.bin'));
  // npx finds the installed bin from the project's node_modules, as in the publisher's own project.
  cpSync(join(project, 'package.json'), join(dir, 'package.json'));
  const link = join(dir, 'node_modules');
  execFileSync('ln', ['-s', join(project, 'node_modules'), link]);
  for (const line of lines) {
    const args = line.split(/\s+/).slice(1);
    if (args[1] === 'serve') {
      // The one that runs until stopped: it must come up and answer for the model it was named.
      const port = args[args.indexOf('--port') + 1]!;
      // In a process group of its own, as a terminal runs it, so Ctrl-C (SIGINT to the group) stops it.
      const proc = spawn('npx', args, { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ONDEVICE_CACHE_DIR: join(work, 'readme-serve-cache') } });
      try {
        let ready = 0;
        for (let i = 0; i < 600 && ready !== 200; i++) {
          ready = await fetch(`http://127.0.0.1:${port}/v2/models/digits/ready`).then((r) => r.status, () => 0);
          if (ready !== 200) await new Promise((r) => setTimeout(r, 100));
        }
        expect(ready, line).toBe(200);
      } finally {
        const exited = new Promise((r) => proc.once('exit', r));
        process.kill(-proc.pid!, 'SIGINT');
        await exited;
      }
      // Ctrl-C stopped serve itself, not only npx: nothing listens there any more.
      expect(await fetch(`http://127.0.0.1:${port}/v2/health/live`).then(() => 'up', () => 'down')).toBe('down');
      continue;
    }
    const out = sh('npx', args, dir);
    expect(out, line).toBeDefined();
  }
  const published = JSON.parse(readFileSync(join(dir, 'public/models/digits/manifest.json'), 'utf8')) as { name: string; version: string; revoked: string[]; variants: Record<string, unknown> };
  expect(published).toMatchObject({ name: 'digits', version: '1.0.0', revoked: ['1.0.0'] });
  expect(Object.keys(published.variants).sort()).toEqual(['fp32', 'int8']);
}, 180_000);

test('without onnxruntime-node, an ONNX load is BACKEND_UNAVAILABLE and the message gives the install command', () => {
  const bare = freshProject('no-ort-app', { ondevice: `file:${tarball}` });
  writeFileSync(
    join(bare, 'index.mjs'),
    `import { loadModel } from 'ondevice/node';
try { await loadModel('./models/digits/manifest.json'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
`,
  );
  const result = JSON.parse(sh(process.execPath, ['index.mjs'], bare, { ONDEVICE_CACHE_DIR: join(work, 'bare-cache') })) as { code: string; message: string };
  expect(result.code).toBe('BACKEND_UNAVAILABLE');
  expect(result.message).toContain('npm install onnxruntime-node');
}, 120_000);

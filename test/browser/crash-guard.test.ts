/**
 * @file The crash-loop guard in every engine: a worker killed while it compiles a model (what iOS
 * does to a page at its memory limit) leaves a mark; the next load skips that backend once and says
 * why, the one after tries it again, and a second unfinished start skips it until a later version.
 * The kill is real: the app's worker is terminated when the compile starts.
 */
import { beforeEach, describe, expect, test } from 'vitest';
import { loadModel, modelCache, type Backend } from '../../src/index.js';
import { expectOndeviceError, quiet } from './helpers.js';
import { LiveHost, tfjsDigits } from './live.js';

function newWorker(): Worker {
  return new Worker(new URL('../../src/worker/worker.ts', import.meta.url), { type: 'module' });
}

/** TF.js on WASM, else its CPU kernels: two backends every engine has. */
const backends: Backend[] = ['wasm', 'cpu'];

/**
 * A load in a fresh worker that is terminated as soon as the compile on WASM begins. The worker's
 * session creation never finishes (fixtures/held-compile-worker.ts), so the kill always lands
 * mid-compile, however busy the machine is.
 */
async function killedWhileCompiling(url: string): Promise<void> {
  const app = new Worker(new URL('./fixtures/held-compile-worker.ts', import.meta.url), { type: 'module' });
  const load = loadModel(url, {
    backend: backends,
    worker: app,
    update: 'never',
    onProgress: (e) => {
      if (e.phase === 'compile' && e.backend === 'wasm') app.terminate();
    },
  });
  await expectOndeviceError(load, 'WORKER_CRASHED');
}

async function loadIn(url: string, worker: boolean) {
  const model = await loadModel(url, { backend: backends, worker, update: 'never' });
  const { backend, fallbacks } = model.info;
  await model.dispose();
  return { backend, fallbacks };
}

beforeEach(async () => {
  await quiet();
  await modelCache.clear();
});

describe.each([true, false])('a start killed while compiling (next loads with worker: %s)', (worker) => {
  test('is skipped once with the reason, tried again after, and skipped for the version after a second kill', async () => {
    const live = new LiveHost();
    await live.publish(await tfjsDigits.release('release'));
    await loadIn(live.url, worker);

    await killedWhileCompiling(live.url);
    expect(await loadIn(live.url, worker)).toEqual({ backend: 'cpu', fallbacks: [{ backend: 'wasm', reason: expect.stringMatching(/previous start of wasm \(version 1\.0\.0.*did not finish.*skipped this time/) }] });
    // One more chance, which finishes: the count is cleared.
    expect(await loadIn(live.url, worker)).toEqual({ backend: 'wasm', fallbacks: [] });

    // Killed, skipped, and the retry killed too: from now on WASM is skipped for this version.
    await killedWhileCompiling(live.url);
    expect((await loadIn(live.url, worker)).backend).toBe('cpu');
    await killedWhileCompiling(live.url);
    expect((await loadIn(live.url, worker)).backend).toBe('cpu');
    for (let i = 0; i < 2; i++) {
      expect(await loadIn(live.url, worker)).toEqual({ backend: 'cpu', fallbacks: [{ backend: 'wasm', reason: expect.stringMatching(/2 starts of wasm .* did not finish here.*skipped for a few days, or until a new browser or library version/) }] });
    }

    // A later version is a new start: WASM again.
    await live.publish(await tfjsDigits.release('next'));
    const next = await loadModel(live.url, { backend: backends, worker, update: 'blocking' });
    expect(next.info).toMatchObject({ version: '1.1.0', backend: 'wasm', fallbacks: [] });
    await next.dispose();
  });
});

test('the only backend a load can use is tried even after an unfinished start', async () => {
  const live = new LiveHost();
  await live.publish(await tfjsDigits.release('release'));
  await loadIn(live.url, true);
  await killedWhileCompiling(live.url);
  const model = await loadModel(live.url, { backend: 'wasm', update: 'never' });
  expect(model.info).toMatchObject({ backend: 'wasm', fallbacks: [] });
  await model.dispose();
});

test('two contexts compiling at once are not mistaken for a crash', async () => {
  const live = new LiveHost();
  await live.publish(await tfjsDigits.release('release'));
  await loadIn(live.url, true);
  const [a, b] = [newWorker(), newWorker()];
  const models = await Promise.all([a, b].map((w) => loadModel(live.url, { backend: backends, worker: w, update: 'never' })));
  expect(models.map((m) => m.info.backend)).toEqual(['wasm', 'wasm']);
  await Promise.all(models.map((m) => m.dispose()));
  a.terminate();
  b.terminate();
});

test('hardening II: a page reloaded or closed while it compiled (pagehide) is not a crash: nothing is skipped', async () => {
  const live = new LiveHost();
  await live.publish(await tfjsDigits.release('release'));
  await loadIn(live.url, true);
  const app = new Worker(new URL('./fixtures/held-compile-worker.ts', import.meta.url), { type: 'module' });
  const load = loadModel(live.url, {
    backend: backends,
    worker: app,
    update: 'never',
    onProgress: (e) => {
      if (e.phase === 'compile' && e.backend === 'wasm') {
        // The user reloads: the page hides, then its worker ends mid-compile.
        window.dispatchEvent(new Event('pagehide'));
        app.terminate();
      }
    },
  });
  await expectOndeviceError(load, 'WORKER_CRASHED');
  expect(await loadIn(live.url, true)).toEqual({ backend: 'wasm', fallbacks: [] });
});

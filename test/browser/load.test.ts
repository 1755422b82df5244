/** @file Loading: backend selection that tells the truth, progress events, bare model URLs, abort. */
import { describe, expect, test } from 'vitest';
import { loadModel, modelCache, type LoadProgress } from '../../src/index.js';
import { has } from './engine.js';
import { digitsManifest, digitsManifestFile, expectOndeviceError, server, quiet } from './helpers.js';
import { eventually } from './live.js';

describe('backend selection', () => {
  test.runIf(has('webgpu'))("'auto' picks WebGPU when a real adapter exists; without shader-f16 it skips fp16 for fp32 and says so", async () => {
    const model = await loadModel(digitsManifest);
    expect(model.info).toMatchObject({ backend: 'webgpu', variant: 'fp32' });
    // SwiftShader's adapter has no shader-f16.
    expect(model.info.fallbacks).toEqual([{ backend: 'webgpu', variant: 'fp16', reason: 'fp16 is chosen on webgpu only where it has shader-f16; this adapter has not' }]);
    await model.dispose();
  });

  test.skipIf(has('webgpu'))("'auto' on an engine without WebGPU runs int8 on WASM and says why WebGPU was skipped", async () => {
    const model = await loadModel(digitsManifest);
    expect(model.info).toMatchObject({ backend: 'wasm', variant: 'int8' });
    expect(model.info.fallbacks).toEqual([{ backend: 'webgpu', reason: expect.stringMatching(/no WebGPU/) }]);
    await model.dispose();
  });

  test('an explicit list is honoured in order and every skipped backend says why', async () => {
    const model = await loadModel(digitsManifest, { backend: ['webgl', 'cpu', 'wasm', 'webgpu'], variant: 'fp32' });
    expect(model.info.backend).toBe('wasm');
    expect(model.info.fallbacks).toEqual([
      { backend: 'webgl', reason: expect.stringMatching(/WebGL backend is deprecated/) },
      { backend: 'cpu', reason: expect.stringMatching(/use 'wasm'/) },
    ]);
    await model.dispose();
  });

  test('a list of backends none of which is available is BACKEND_UNAVAILABLE with every reason', async () => {
    const error = await expectOndeviceError(loadModel(digitsManifest, { backend: ['webgl', 'cpu'] }), 'BACKEND_UNAVAILABLE');
    expect(error.details['fallbacks']).toHaveLength(2);
  });
});

describe.each([true, false])('progress (worker: %s)', (worker) => {
  test('phases arrive in order, download is monotonic with a constant total, and ready comes before the model', async () => {
    await quiet();
    await modelCache.clear();
    const events: LoadProgress[] = [];
    const model = await loadModel(digitsManifest, { backend: 'wasm', worker, variant: 'fp32', onProgress: (e) => events.push(e) });
    const size = (await (await fetch(await digitsManifestFile())).arrayBuffer()).byteLength;
    const phases = events.map((e) => e.phase).filter((p, i, all) => p !== all[i - 1]);
    // 100 % is announced only once every byte is stored, so after the file was verified.
    expect(phases).toEqual(['manifest', 'download', 'verify', 'download', 'compile', 'ready']);
    const downloads = events.filter((e) => e.phase === 'download');
    expect(downloads.every((e) => e.total === size)).toBe(true);
    const loaded = downloads.map((e) => e.loaded);
    expect(loaded).toEqual([...loaded].sort((a, b) => a - b));
    expect(loaded.at(-1)).toBe(size);
    expect(loaded.filter((n) => n === size)).toHaveLength(1);
    expect(events.findIndex((e) => e.phase === 'download' && e.loaded === size)).toBeGreaterThan(events.findIndex((e) => e.phase === 'verify'));
    expect(events.at(-1)).toEqual({ phase: 'ready', backend: 'wasm' });
    await model.dispose();

    // Cached: read from the device, no question to the host before it runs.
    const again: LoadProgress[] = [];
    const cached = await loadModel(digitsManifest, { backend: 'wasm', worker, variant: 'fp32', onProgress: (e) => again.push(e) });
    expect(again.map((e) => e.phase)).toEqual(['cache', 'compile', 'ready']);
    expect(again[0]).toEqual({ phase: 'cache', url: await digitsManifestFile(), loaded: size, total: size });
    expect(cached.info.fromCache).toBe(true);
    await cached.dispose();
  });
});

describe.each([true, false])('a bare model URL (worker: %s)', (worker) => {
  test('loads, named after the file and versioned by its ETag', async () => {
    const url = await digitsManifestFile();
    const etag = (await fetch(url, { method: 'HEAD' })).headers.get('etag')!;
    const model = await loadModel(url, { backend: 'wasm', worker });
    expect(model.info).toMatchObject({ name: url.split('/').pop()!.replace('.onnx', ''), version: etag.replace(/^W\//, '').replace(/"/g, ''), variant: null, url });
    expect(model.info.inputs).toEqual([{ name: 'image', type: 'float32', dims: ['batch', 1, 8, 8] }]);
    expect(model.info.outputs).toEqual([{ name: 'logits', type: 'float32', dims: ['batch', 10] }]);
    await model.dispose();
  });
});

describe.each([true, false])('abort (worker: %s)', (worker) => {
  test('an already aborted signal rejects at once with ABORTED', async () => {
    await expectOndeviceError(loadModel(digitsManifest, { worker, signal: AbortSignal.abort() }), 'ABORTED');
  });

  test('aborting mid-download rejects with ABORTED and stops the transfer', async () => {
    const file = (await digitsManifestFile()).slice(server.length + 1);
    // The host sends 20 kB and then holds the rest until the client goes: the transfer can only end
    // by the abort, however busy the machine is.
    const url = `${server}/held/${file}?after=20000`;
    const seen = async () => ((await (await fetch(`${server}/__requests`)).json()) as Array<{ path: string; bytes: number; completed: boolean }>).filter((r) => r.path === `/held/${file}`);
    const before = (await seen()).length;
    const controller = new AbortController();
    const load = loadModel(url, {
      backend: 'wasm',
      worker,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.phase === 'download' && e.loaded > 10_000) controller.abort();
      },
    });
    await expectOndeviceError(load, 'ABORTED');
    await eventually(async () => (await seen()).length > before, 'the server to see the connection closed');
    const last = (await seen()).at(-1)!;
    expect(last.completed).toBe(false);
    expect(last.bytes).toBe(20_000);
  });

});

/**
 * @file The baselines of suite "warm", each in a fresh worker as ondevice's own load is:
 * onnxruntime-web creating a session from bytes handed to it in memory, the peers' way (Cache API
 * `match` → `arrayBuffer` → create), a plain `fetch` → create (suite "memory"), and the storage floor (one OPFS read-only sync read).
 * Each job ends with one run, and posts when it is done.
 */
import * as ort from 'onnxruntime-web/wasm';

export type WarmJob =
  | { kind: 'memory'; model: Uint8Array; external: Array<{ path: string; data: Uint8Array }>; input: Input; disablePrepacking: boolean }
  | { kind: 'cache-api'; url: string; input: Input }
  | { kind: 'fetch'; url: string; input: Input }
  | { kind: 'opfs-read'; files: Array<{ sha256: string; size: number }> };

interface Input {
  name: string;
  dims: number[];
}

interface SyncHandle {
  read(into: Uint8Array, options: { at: number }): number;
  close(): void;
}

async function createAndRun(model: Uint8Array, input: Input, options: ort.InferenceSession.SessionOptions): Promise<void> {
  ort.env.logLevel = 'error';
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'all', ...options });
  const size = input.dims.reduce((a, b) => a * b, 1);
  await session.run({ [input.name]: new ort.Tensor('float32', new Float32Array(size), input.dims) });
  await session.release();
}

async function run(job: WarmJob): Promise<number> {
  const t0 = performance.now();
  if (job.kind === 'memory') {
    await createAndRun(job.model, job.input, {
      ...(job.external.length > 0 && { externalData: job.external }),
      ...(job.disablePrepacking && { extra: { session: { disable_prepacking: '1' } } }),
    });
  } else if (job.kind === 'fetch') {
    await createAndRun(new Uint8Array(await (await fetch(job.url)).arrayBuffer()), job.input, {});
  } else if (job.kind === 'cache-api') {
    const response = await (await caches.open('ondevice-bench')).match(job.url);
    if (!response) throw new Error(`${job.url} is not in the Cache API`);
    await createAndRun(new Uint8Array(await response.arrayBuffer()), job.input, {});
  } else {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('ondevice');
    for (const file of job.files) {
      const handle = (await dir.getFileHandle(file.sha256)) as FileSystemFileHandle & { createSyncAccessHandle(o: { mode: string }): Promise<SyncHandle> };
      const access = await handle.createSyncAccessHandle({ mode: 'read-only' });
      const out = new Uint8Array(file.size);
      for (let done = 0; done < file.size; ) done += access.read(out.subarray(done), { at: done });
      access.close();
    }
  }
  return performance.now() - t0;
}

self.onmessage = (event: MessageEvent<WarmJob>) => {
  run(event.data).then(
    (ms) => self.postMessage({ ms }),
    (error: unknown) => self.postMessage({ error: String(error) }),
  );
};

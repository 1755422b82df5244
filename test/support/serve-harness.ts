/** @file For the `serve` tests: the model server and proxy for the file, a server per test (closed after it), and a client. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { startServer, type RunningServer, type ServeOptions } from '../../src/serve/server.js';
import { digitsTestSet } from './digits.mjs';
import { startServers, type Servers } from './node-host.js';

export const DIGITS = fileURLToPath(new URL('../../models/digits/release/manifest.json', import.meta.url));

export interface Harness {
  readonly servers: Servers;
  readonly cacheDir: string;
  /** Running servers, closed after each test. `serve()` returns once their models have loaded (or failed to). */
  readonly running: RunningServer[];
  serve(options?: Partial<ServeOptions>): Promise<RunningServer>;
}

/** Registers the file's hooks: the model server and proxy once, a fresh cache dir and server list per test. */
export function serveHarness(): Harness {
  const state = { servers: undefined as unknown as Servers, cacheDir: '', running: [] as RunningServer[] };
  beforeAll(async () => {
    state.servers = await startServers();
  });
  afterAll(async () => {
    await state.servers.close();
  });
  beforeEach(() => {
    state.cacheDir = mkdtempSync(join(tmpdir(), 'ondevice-serve-'));
    return async () => {
      for (const s of state.running.splice(0)) await s.close();
      rmSync(state.cacheDir, { recursive: true, force: true });
    };
  });
  return {
    get servers() {
      return state.servers;
    },
    get cacheDir() {
      return state.cacheDir;
    },
    get running() {
      return state.running;
    },
    async serve(options = {}) {
      const server = await startServer({ models: [DIGITS], port: 0, cacheDir: state.cacheDir, updateInterval: 0, log: (l) => process.env['SERVE_LOG'] && console.log(l), ...options });
      state.running.push(server);
      await server.started;
      return server;
    },
  };
}

export const images = (n: number) => Array.from(digitsTestSet().images.slice(0, n * 64));
export const inferBody = (n: number, extra: Record<string, unknown> = {}) => ({ inputs: [{ name: 'image', shape: [n, 1, 8, 8], datatype: 'FP32', data: images(n), ...extra }] });

export async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
  return { status: response.status, headers: response.headers, json: (await response.json()) as Record<string, any> };
}

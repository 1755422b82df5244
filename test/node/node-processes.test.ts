/**
 * @file Several processes on one cache directory, and a script's life: the built `ondevice/node`
 * in real child processes against the real model server and fault proxy.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { loadModel, openModelCache } from '../../src/node/index.js';
import { builtNodeEntry } from '../support/node-build.js';
import { LiveHost, maxAbsDiff, release, startServers, whichRelease, type Servers } from '../support/node-host.js';

const CHILD = fileURLToPath(new URL('../support/node-child.mjs', import.meta.url));
let servers: Servers;
let entry: string;
let cacheDir: string;

beforeAll(async () => {
  entry = builtNodeEntry();
  servers = await startServers();
}, 120_000);
afterAll(async () => {
  await servers.close();
});
beforeEach(() => {
  cacheDir = mkdtempSync(join(tmpdir(), 'ondevice-procs-'));
  return () => rmSync(cacheDir, { recursive: true, force: true });
});

interface ChildResult {
  code: number | null;
  lines: Array<Record<string, unknown>>;
  stderr: string;
}

function child(url: string, mode?: 'hold' | 'wait'): { process: ChildProcess; done: Promise<ChildResult>; line: Promise<Record<string, unknown>> } {
  const proc = spawn(process.execPath, [CHILD, entry, url, cacheDir, ...(mode ? [mode] : [])], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: Array<Record<string, unknown>> = [];
  let stderr = '';
  let firstLine!: (line: Record<string, unknown>) => void;
  const line = new Promise<Record<string, unknown>>((resolve) => (firstLine = resolve));
  let buffer = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      const parsed = JSON.parse(buffer.slice(0, i)) as Record<string, unknown>;
      buffer = buffer.slice(i + 1);
      lines.push(parsed);
      firstLine(parsed);
    }
  });
  proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<ChildResult>((resolve) => proc.on('exit', (code) => resolve({ code, lines, stderr })));
  return { process: proc, done, line };
}

const contentFiles = () => readdirSync(join(cacheDir, 'content'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));

describe('processes sharing one cache directory', () => {
  test('four processes loading one model at once: it is downloaded once, every process runs it, the file is whole', async () => {
    const manifest = await release('release');
    const file = manifest.variants['fp32']!.files[0]!;
    const host = new LiveHost(servers.server, servers.proxy);
    await host.publish(manifest);
    // Slowed, so that every process asks while the first still downloads.
    await fetch(`${servers.proxy}/__faults`, { method: 'PUT', body: JSON.stringify([{ match: file.path, fault: 'throttle', bps: 200_000, times: 4 }]) });
    const results = await Promise.all([0, 1, 2, 3].map(() => child(host.url).done));
    for (const r of results) {
      expect(r.code, r.stderr).toBe(0);
      const out = r.lines.at(-1)!;
      expect(out['version']).toBe('1.0.0');
      expect(maxAbsDiff(out['logits'] as number[], servers.references['1.0.0'].slice(0, 100))).toBeLessThanOrEqual(1e-5);
    }
    expect(await host.count(file.path)).toBe(1);
    expect(results.filter((r) => r.lines.at(-1)!['fromCache'] === false).length).toBeGreaterThanOrEqual(1);
    const [stored] = contentFiles();
    expect(contentFiles()).toHaveLength(1);
    expect(createHash('sha256').update(readFileSync(stored!)).digest('hex')).toBe(file.sha256);
    expect(readdirSync(join(cacheDir, 'tmp'))).toEqual([]);
  }, 60_000);

  test('a process killed mid-download does not block the others for ever: its lock goes stale and the file is fetched', async () => {
    const manifest = await release('release');
    const file = manifest.variants['fp32']!.files[0]!;
    const host = new LiveHost(servers.server, servers.proxy);
    await host.publish(manifest);
    await fetch(`${servers.proxy}/__faults`, { method: 'PUT', body: JSON.stringify([{ match: file.path, fault: 'throttle', bps: 5_000, times: 1 }]) });
    const holder = child(host.url, 'hold');
    await holder.line;
    holder.process.kill('SIGKILL');
    await holder.done;
    const model = await loadModel(host.url, { cacheDir });
    expect(model.info.version).toBe('1.0.0');
    expect(await whichRelease(model, servers.references)).toBe('1.0.0');
    await model.dispose();
  }, 60_000);
});

describe('eviction (maxCacheBytes) across processes', () => {
  test('a model that runs in another process is not evicted; once that process ends, it is', async () => {
    const [v1, v2] = [await release('release'), await release('next')];
    const [a, b] = [new LiveHost(servers.server), new LiveHost(servers.server)];
    await a.publish(v1);
    await b.publish(v2);
    const running = child(a.url, 'wait');
    expect(await running.line).toMatchObject({ version: '1.0.0' });
    const sizeOf = (m: typeof v1) => m.variants['fp32']!.files[0]!.size;
    // Room for one model only: B needs A's bytes gone, but A runs in the other process.
    const tight = { cacheDir, variant: 'fp32', maxCacheBytes: Math.max(sizeOf(v1), sizeOf(v2)) + 1_000 };
    await expect(loadModel(b.url, tight)).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED' });
    const active = async () => Object.fromEntries((await openModelCache(cacheDir).list()).map((m) => [m.manifestUrl, m.activeVersion]));
    // B's manifest is remembered, with nothing of it active; A is untouched.
    expect(await active()).toEqual({ [a.url]: '1.0.0', [b.url]: null });
    running.process.stdin!.end();
    expect((await running.done).code).toBe(0);
    const model = await loadModel(b.url, tight);
    expect(await whichRelease(model, servers.references)).toBe('1.1.0');
    await model.dispose();
    expect(await active()).toEqual({ [b.url]: '1.1.0' });
  }, 60_000);
});

describe("a script's life", () => {
  test('a script that loads (update check included), runs and disposes ends by itself', async () => {
    const host = new LiveHost(servers.server);
    await host.publish(await release('release'));
    const first = await child(host.url).done;
    expect(first.code, first.stderr).toBe(0);
    // Again from the cache, with the background update check that follows a cached start.
    const second = child(host.url);
    const ended = await Promise.race([second.done, new Promise<'running'>((r) => setTimeout(() => r('running'), 30_000).unref())]);
    if (ended === 'running') second.process.kill('SIGKILL');
    expect(ended).not.toBe('running');
    expect((ended as ChildResult).lines.at(-1)).toMatchObject({ version: '1.0.0', fromCache: true });
  }, 60_000);
});

/**
 * @file The disk cache in the places servers put it (hardening II): a pre-warmed cache on a read-only
 * file system (a container image) serves the versions it holds, an empty read-only one runs uncached;
 * and temp files that a process killed mid-write left are counted in usage() and collected.
 * The read-only mounts are made in a private mount namespace of a child process (`unshare -rm`, a bind
 * mount remounted read-only): the file system really answers EROFS.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { loadModel, openModelCache } from '../../src/node/index.js';
import { builtNodeEntry } from '../support/node-build.js';
import { maxAbsDiff, startServers, type Servers } from '../support/node-host.js';

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
  cacheDir = mkdtempSync(join(tmpdir(), 'ondevice-rofs-'));
  return () => rmSync(cacheDir, { recursive: true, force: true });
});

/** Runs the app-like child with `dir` mounted read-only (EROFS) for it alone; returns its JSON line. */
async function onReadOnly(url: string, dir: string): Promise<Record<string, any>> {
  // Not spawnSync: the model server the child asks runs in this process.
  const script = `mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec "$2" "$3" "$4" "$5" "$1"`;
  const proc = spawn('unshare', ['-rm', 'sh', '-c', script, 'sh', dir, process.execPath, CHILD, entry, url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise((resolve) => proc.once('exit', resolve));
  const line = stdout.split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`no answer from the child (exit ${String(code)}): ${stderr}`);
  return JSON.parse(line) as Record<string, any>;
}

describe('a read-only cache directory', { timeout: 60_000 }, () => {
  test('the file system is really read-only for the child', () => {
    const out = spawnSync('unshare', ['-rm', 'sh', '-c', 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && touch "$1/x"', 'sh', cacheDir], { encoding: 'utf8' });
    expect(out.stderr).toMatch(/Read-only file system/);
  });

  test('pre-warmed: the cached version serves, with no error', async () => {
    const url = `${servers.server}/digits/release/manifest.json`;
    await (await loadModel(url, { cacheDir, variant: 'fp32' })).dispose();
    const answer = await onReadOnly(url, cacheDir);
    expect(answer['error']).toBeUndefined();
    expect(answer).toMatchObject({ version: '1.0.0', fromCache: true });
    expect(maxAbsDiff(answer['logits'], servers.references['1.0.0'].slice(0, 100))).toBeLessThanOrEqual(1e-5);
  });

  test('empty: the model runs uncached (downloaded into memory) and says nothing went wrong', async () => {
    const answer = await onReadOnly(`${servers.server}/digits/release/manifest.json`, cacheDir);
    expect(answer['error']).toBeUndefined();
    expect(answer).toMatchObject({ version: '1.0.0', fromCache: false });
    expect(readdirSync(cacheDir)).toEqual([]);
  });
});

describe('temp files a killed writer left', () => {
  test('are counted in usage() and collected; a live writer’s are kept', async () => {
    // A process that has ended: its pid names no process now.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    mkdirSync(join(cacheDir, 'tmp'), { recursive: true });
    writeFileSync(join(cacheDir, 'tmp', `${dead}-0123456789abcdef.tmp`), new Uint8Array(1000));
    writeFileSync(join(cacheDir, 'tmp', `${process.pid}-fedcba9876543210.tmp`), new Uint8Array(24));
    const cache = openModelCache(cacheDir);
    expect((await cache.usage()).bytes).toBe(1024);
    // Anything that collects garbage (here: removing a model the cache does not hold).
    await cache.remove('https://nowhere.example/manifest.json');
    expect(readdirSync(join(cacheDir, 'tmp'))).toEqual([`${process.pid}-fedcba9876543210.tmp`]);
    expect((await cache.usage()).bytes).toBe(24);
  });
});

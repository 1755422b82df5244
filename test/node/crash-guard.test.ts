/**
 * @file The crash-loop guard's rules on a real store (the disk cache, with its cross-process file
 * locks): a mark another context cleared between the guard's look and its lock is not a crash; a
 * skip expires after a few days, or with another browser or library; a clean exit is not a crash.
 * (The kill itself is tested in every browser engine: test/browser/crash-guard.test.ts.)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { BackendSkipped } from '../../src/backend/select.js';
import { emptyRecord, type CompileMark } from '../../src/cache/records.js';
import type { CacheStore } from '../../src/cache/store.js';
import { diskCacheStore } from '../../src/node/disk-store.js';
import { SKIP_EXPIRES_MS, guardStart } from '../../src/pipeline/crash-guard.js';
import { VERSION } from '../../src/version.js';

const URL_ = 'https://host.example/m/manifest.json';
const KEY = '1.0.0|fp32|webgpu';
const ENV = 'Browser/1 ondevice/0.1.0';
let dir: string;
let store: CacheStore;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ondevice-guard-'));
  store = diskCacheStore(dir);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function withMark(mark: CompileMark): Promise<void> {
  const version = { version: '1.0.0', variant: 'fp32', manifest: {}, files: [], storedAt: 0 };
  await store.updateModel(URL_, () => ({ ...emptyRecord(URL_, 'manifest', 'm', 0), versions: { '1.0.0': version }, active: '1.0.0', compiling: { [KEY]: mark } }));
}
const skipped = (promise: Promise<unknown>) => promise.then(() => false, (e: unknown) => (e instanceof BackendSkipped ? true : Promise.reject(e)));
const markNow = async () => (await store.getModel(URL_))?.compiling?.[KEY];

describe('the crash-loop guard (hardening II)', () => {
  test('a running mark with nobody compiling is an unfinished start: skipped once', async () => {
    await withMark({ running: true, unfinished: 0, since: 1, env: ENV });
    expect(await skipped(guardStart(store, URL_, KEY, false, { env: ENV }))).toBe(true);
    expect(await markNow()).toMatchObject({ running: false, unfinished: 1 });
  });

  test('a mark another tab cleared between the look and the lock is not counted', async () => {
    await withMark({ running: true, unfinished: 0, since: 1, env: ENV });
    // The other tab finishes its start right after this guard's first read.
    const racing: CacheStore = {
      ...store,
      getModel: async (url) => {
        const record = await store.getModel(url);
        racing.getModel = store.getModel;
        await store.updateModel(URL_, (r) => r && { ...r, compiling: {} });
        return record;
      },
    };
    expect(await skipped(guardStart(racing, URL_, KEY, false, { env: ENV }))).toBe(false);
    expect(await markNow()).toBeUndefined();
  });

  test('a page that ended cleanly (pagehide) while that start ran: not a crash, nothing skipped or counted', async () => {
    await withMark({ running: true, unfinished: 1, since: 1_000, env: ENV });
    expect(await skipped(guardStart(store, URL_, KEY, false, { env: ENV, cleanExitAt: 2_000 }))).toBe(false);
    expect(await markNow()).toMatchObject({ running: false, unfinished: 1 });
    // A clean exit from before that start says nothing about it.
    await withMark({ running: true, unfinished: 0, since: 3_000, env: ENV });
    expect(await skipped(guardStart(store, URL_, KEY, false, { env: ENV, cleanExitAt: 2_000 }))).toBe(true);
  });

  test('a skip for good expires: after a few days, or in another browser or library', async () => {
    const now = 10 * SKIP_EXPIRES_MS;
    await withMark({ running: false, unfinished: 2, since: now - 1_000, env: ENV });
    expect(await skipped(guardStart(store, URL_, KEY, false, { env: ENV, now }))).toBe(true);
    expect(await skipped(guardStart(store, URL_, KEY, false, { env: 'Browser/2 ondevice/0.1.0', now }))).toBe(false);
    expect(await skipped(guardStart(store, URL_, KEY, false, { env: ENV, now: now + SKIP_EXPIRES_MS }))).toBe(false);
  });

  test("the library's version the marks are tied to is package.json's", () => {
    expect(VERSION).toBe((JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version);
  });
});

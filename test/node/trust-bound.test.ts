/**
 * @file Trust bound to its model, and what a device learnt kept (hardening II), through ondevice/node
 * against the real model server: another model's manifest at this URL is refused (its name, and its
 * revocations not recorded); `modelCache.remove()` keeps the revocations and the no-downgrade floor,
 * `clear()` forgets them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { loadModel, openModelCache, type Model } from '../../src/node/index.js';
import { LiveHost, release, startServers, whichRelease, type Servers } from '../support/node-host.js';

let servers: Servers;
let cacheDir: string;
const models: Model[] = [];
beforeAll(async () => {
  servers = await startServers();
});
afterAll(async () => {
  await servers.close();
});
beforeEach(() => {
  cacheDir = mkdtempSync(join(tmpdir(), 'ondevice-trust-'));
  return async () => {
    for (const m of models.splice(0)) await m.dispose();
    rmSync(cacheDir, { recursive: true, force: true });
  };
});
const load = async (url: string, options: Parameters<typeof loadModel>[1] = {}) => {
  const model = await loadModel(url, { cacheDir, ...options });
  models.push(model);
  return model;
};

describe('a manifest is bound to its model', () => {
  test("another model's manifest at this URL is not taken: the device keeps its model, and the other's revocations are not recorded", async () => {
    const host = new LiveHost(servers.server);
    await host.publish(await release('release'));
    await load(host.url, { update: 'blocking' });
    // Another model (same key, same host) published at this URL, revoking what this device runs.
    await host.publish({ ...(await release('next')), name: 'cats', revoked: ['1.0.0'] });
    const model = await load(host.url, { update: 'blocking' });
    expect(model.info).toMatchObject({ name: 'digits', version: '1.0.0' });
    expect(model.lastUpdateError).toMatchObject({ code: 'MANIFEST_INVALID', details: { field: 'name', expected: 'digits', actual: 'cats' } });
    expect(await whichRelease(model, servers.references)).toBe('1.0.0');
    const again = await load(host.url, { update: 'never' });
    expect(again.info.version).toBe('1.0.0');
  });
});

describe('what the device learnt outlives remove(), and clear() forgets it', () => {
  test('after remove(), a replayed old manifest brings back neither a revoked version nor an older one', async () => {
    const host = new LiveHost(servers.server);
    const [v1, v2] = [await release('release'), await release('next')];
    await host.publish(v1);
    await load(host.url, { update: 'blocking' });
    await host.publish({ ...v2, revoked: ['1.0.0'] });
    expect((await load(host.url, { update: 'blocking' })).info.version).toBe('1.1.0');
    for (const m of models.splice(0)) await m.dispose();
    const cache = openModelCache(cacheDir);
    await cache.remove(host.url);
    expect(await cache.list()).toEqual([]);
    expect((await cache.usage()).models).toBe(0);
    // The old manifest, replayed (a stale CDN edge, or an attacker with an old signed copy).
    await host.publish(v1);
    await expect(load(host.url, { update: 'blocking' })).rejects.toMatchObject({ code: 'VERSION_UNAVAILABLE', message: expect.stringMatching(/1\.0\.0 .* is revoked/) });
    // clear() is the app's reset: it forgets, and the old manifest loads again.
    await cache.clear();
    expect((await load(host.url, { update: 'blocking' })).info.version).toBe('1.0.0');
  });

  test('after remove(), a version below the highest this device ran is not taken (no downgrade)', async () => {
    const host = new LiveHost(servers.server);
    const [v1, v2] = [await release('release'), await release('next')];
    await host.publish(v2);
    await load(host.url, { update: 'blocking' });
    for (const m of models.splice(0)) await m.dispose();
    await openModelCache(cacheDir).remove(host.url);
    await host.publish(v1);
    await expect(load(host.url, { update: 'blocking' })).rejects.toMatchObject({ code: 'VERSION_UNAVAILABLE', message: expect.stringMatching(/below 1\.1\.0, which this device already ran/) });
    await host.publish(v2);
    expect((await load(host.url, { update: 'blocking' })).info.version).toBe('1.1.0');
  });
});

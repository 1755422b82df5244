/**
 * @file Trust bound to its model, and what a device learnt kept (hardening II), through ondevice/node
 * against the real model server: another model's manifest at this URL is refused (its name, and its
 * revocations not recorded); `modelCache.remove()` keeps the revocations and the no-downgrade floor,
 * `clear()` forgets them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadModel, openModelCache } from '../../src/node/index.js';
import { LiveHost, nodeSuite, release, whichRelease, type ManifestJson } from '../support/node-host.js';
import { signedReleases } from '../support/signed.js';

const suite = nodeSuite('trust');
const load = suite.load;

describe('a manifest is bound to its model', () => {
  test("another model's manifest at this URL is not taken: the device keeps its model, and the other's revocations are not recorded", async () => {
    const host = new LiveHost(suite.servers.server);
    await host.publish(await release('release'));
    await load(host.url, { update: 'blocking' });
    // Another model (same key, same host) published at this URL, revoking what this device runs.
    await host.publish({ ...(await release('next')), name: 'cats', revoked: ['1.0.0'] });
    const model = await load(host.url, { update: 'blocking' });
    expect(model.info).toMatchObject({ name: 'digits', version: '1.0.0' });
    expect(model.lastUpdateError).toMatchObject({ code: 'MANIFEST_INVALID', details: { field: 'name', expected: 'digits', actual: 'cats' } });
    expect(await whichRelease(model, suite.servers.references)).toBe('1.0.0');
    const again = await load(host.url, { update: 'never' });
    expect(again.info.version).toBe('1.0.0');
  });
});

describe('what the device learnt outlives remove(), and clear() forgets it', () => {
  test('after remove(), a replayed old manifest brings back neither a revoked version nor an older one', async () => {
    const host = new LiveHost(suite.servers.server);
    const [v1, v2] = [await release('release'), await release('next')];
    await host.publish(v1);
    await load(host.url, { update: 'blocking' });
    await host.publish({ ...v2, revoked: ['1.0.0'] });
    expect((await load(host.url, { update: 'blocking' })).info.version).toBe('1.1.0');
    await suite.disposeAll();
    const cache = openModelCache(suite.cacheDir);
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
    const host = new LiveHost(suite.servers.server);
    const [v1, v2] = [await release('release'), await release('next')];
    await host.publish(v2);
    await load(host.url, { update: 'blocking' });
    await suite.disposeAll();
    await openModelCache(suite.cacheDir).remove(host.url);
    await host.publish(v1);
    await expect(load(host.url, { update: 'blocking' })).rejects.toMatchObject({ code: 'VERSION_UNAVAILABLE', message: expect.stringMatching(/below 1\.1\.0, which this device already ran/) });
    await host.publish(v2);
    expect((await load(host.url, { update: 'blocking' })).info.version).toBe('1.1.0');
  });
});

describe('key rotation', () => {
  test('the host re-signs the running version with a new key: the stored manifest is replaced (no file downloaded), and the new key alone starts it offline', async () => {
    const signed = await signedReleases();
    const host = new LiveHost(suite.servers.server);
    await host.publish(signed.manifests.v1A as unknown as ManifestJson);
    const both = [signed.publicA, signed.publicB];
    await load(host.url, { update: 'blocking', publicKey: both });
    const requests = (await host.requests()).length;
    // Rotation, step 1: the app trusts both keys (above); step 2: the host signs again with the new one.
    await host.publish(signed.manifests.v1B as unknown as ManifestJson);
    expect((await load(host.url, { update: 'blocking', publicKey: both })).info.version).toBe('1.0.0');
    expect((await host.requests()).slice(requests).map((r) => r.path.split('/').pop())).toEqual(['manifest.json']);
    // Step 3: the app drops the old key; this device is offline.
    await suite.disposeAll();
    await host.down(true);
    const model = await load(host.url, { update: 'blocking', publicKey: signed.publicB });
    expect(await whichRelease(model, suite.servers.references)).toBe('1.0.0');
  });
});

describe('staged rollouts', () => {
  test('a device outside the rollout that runs a version below previous moves up to previous, on load and on a check', async () => {
    const host = new LiveHost(suite.servers.server);
    const [v1, v2] = [await release('release'), await release('next')];
    // 1.2.0 (the next files again) rolled out to nobody; previous is 1.1.0.
    const v3 = { ...v2, version: '1.2.0', rollout: { percent: 0, previous: '1.1.0' } };
    await host.publish(v1);
    const running = await load(host.url, { update: 'blocking' });
    await host.publishJson('manifest.1.1.0.json', v2);
    await host.publish(v3);
    // A check from the running model: 1.1.0 is downloaded and activated.
    expect(await running.checkForUpdate()).toMatchObject({ available: true, version: '1.1.0' });
    await running.reload();
    expect(await whichRelease(running, suite.servers.references)).toBe('1.1.0');
    // And a load from scratch on another device's cache at 1.0.0 does the same.
    const other = mkdtempSync(join(tmpdir(), 'ondevice-trust-other-'));
    try {
      await host.publish(v1);
      await loadModel(host.url, { cacheDir: other, update: 'blocking' }).then((m) => m.dispose());
      await host.publish(v3);
      const moved = await loadModel(host.url, { cacheDir: other, update: 'blocking' });
      expect(moved.info.version).toBe('1.1.0');
      await moved.dispose();
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});

/**
 * @file Signed releases, in every engine, against the live test host: a signed release runs; a
 * tampered, unsigned, wrongly signed or truncated manifest is SIGNATURE_INVALID with the verified
 * version still running and nothing downloaded; key rotation; a replayed old manifest; expiry; a
 * staged rollout at 0 %, 50 % (simulated device ids, at the cache interface we own) and 100 %.
 * The manifests are signed in Node by the CLI's code with fresh keys (test/support/signed.ts).
 */
import { beforeEach, describe, expect, inject, test } from 'vitest';
import { loadModel, modelCache, type UpdateInfo } from '../../src/index.js';
import type { ManifestJson as CliManifest } from '../../src/cli/manifest-file.js';
import { defaultCacheStore, type CacheStore } from '../../src/cache/store.js';
import { createModelHost } from '../../src/pipeline/host.js';
import { onnxRuntime } from '../../src/runtime/onnx.js';
import { rolloutBucket } from '../../src/update/trust.js';
import { expectOndeviceError, loaded, quiet } from './helpers.js';
import { LiveHost, eventually, fileOf, onnxDigits, type ManifestJson } from './live.js';

const { publicA, publicB, privateA, manifests } = inject('signedReleases');
const m = (name: keyof typeof manifests) => structuredClone(manifests[name]) as unknown as ManifestJson & CliManifest;

beforeEach(async () => {
  await quiet();
  await modelCache.clear();
});

/** A host serving `first`, a device that ran it, then `next` published: what the device does. */
async function afterPublishing(first: ManifestJson, next: ManifestJson, publicKey: JsonWebKey | JsonWebKey[] = publicA) {
  const host = new LiveHost();
  await host.publish(first);
  await (await loadModel(host.url, { backend: 'wasm', publicKey })).dispose();
  await host.publish(next);
  const updates: UpdateInfo[] = [];
  const model = await loadModel(host.url, { backend: 'wasm', publicKey, onUpdate: (u) => updates.push(u) });
  return { host, model, updates };
}

describe('signatures', () => {
  test('a signed release runs, and so does its signed update', async () => {
    const { model, updates } = await afterPublishing(m('v1A'), m('v2A'));
    expect(model.info.version).toBe('1.0.0');
    await eventually(() => updates.length > 0, 'onUpdate');
    expect(updates).toEqual([{ version: '1.1.0', previousVersion: '1.0.0', revoked: false }]);
    await model.reload();
    expect(await onnxDigits.whichRelease(model)).toBe('1.1.0');
    await model.dispose();
  });

  const tampered: Array<[string, (x: ManifestJson & CliManifest) => void]> = [
    ['a field changed after signing', (x) => void (x.metadata = { ...x.metadata, labels: ['tampered'] })],
    ['no signatures', (x) => void delete x['signatures']],
    ['a truncated signature', (x) => void ((x['signatures'] as Array<{ sig: string }>)[0]!.sig = (x['signatures'] as Array<{ sig: string }>)[0]!.sig.slice(0, 40))],
    ['a signatures field that is not a list', (x) => void (x['signatures'] = 'yes')],
  ];
  test.each(tampered)('%s: SIGNATURE_INVALID, the verified version keeps running, nothing is downloaded', async (_, change) => {
    const next = m('v2A');
    change(next);
    const { host, model, updates } = await afterPublishing(m('v1A'), next);
    await eventually(() => updates.length > 0, 'onUpdate');
    expect(updates[0]).toMatchObject({ version: '1.0.0', previousVersion: '1.0.0', revoked: false, error: { code: 'SIGNATURE_INVALID' } });
    expect(model.lastUpdateError?.code).toBe('SIGNATURE_INVALID');
    expect(await onnxDigits.whichRelease(model)).toBe('1.0.0');
    await model.dispose();
    expect(await host.count(fileOf(next))).toBe(0);
    // Blocking: the host is asked first, refused, and the verified version runs, saying why.
    const blocking = await loadModel(host.url, { backend: 'wasm', publicKey: publicA, update: 'blocking' });
    expect(blocking.info.version).toBe('1.0.0');
    expect(blocking.lastUpdateError?.code).toBe('SIGNATURE_INVALID');
    await blocking.dispose();
  });

  test('in the page (worker: false) too: a signed release runs, an altered one is refused', async () => {
    const host = new LiveHost();
    await host.publish(m('v1A'));
    const model = await loadModel(host.url, { backend: 'wasm', worker: false, publicKey: publicA });
    expect(await onnxDigits.whichRelease(model)).toBe('1.0.0');
    await model.dispose();
    const altered = m('v2A');
    altered.name = 'not-digits';
    await host.publish(altered);
    const blocking = await loadModel(host.url, { backend: 'wasm', worker: false, publicKey: publicA, update: 'blocking' });
    expect(blocking.info.version).toBe('1.0.0');
    expect(blocking.lastUpdateError?.code).toBe('SIGNATURE_INVALID');
    await blocking.dispose();
  });

  test('signed by a key the app does not list: SIGNATURE_INVALID; with nothing cached the load fails', async () => {
    const host = new LiveHost();
    await host.publish(m('v2B'));
    const error = await expectOndeviceError(loadModel(host.url, { backend: 'wasm', publicKey: publicA }), 'SIGNATURE_INVALID');
    expect(error.message).toMatch(/not.*by a key the app trusts/);
    expect(await host.count(fileOf(m('v2B')))).toBe(0);
  });

  test('key rotation: with both keys listed, a release signed by the new key is taken', async () => {
    const { model, updates } = await afterPublishing(m('v1A'), m('v2B'), [publicA, publicB]);
    await eventually(() => updates.length > 0, 'onUpdate');
    expect(updates[0]).toEqual({ version: '1.1.0', previousVersion: '1.0.0', revoked: false });
    await model.dispose();
  });

  test('a replayed old manifest changes nothing, and cannot revoke a newer version', async () => {
    const host = new LiveHost();
    await host.publish(m('v2A'));
    await (await loadModel(host.url, { backend: 'wasm', publicKey: publicA })).dispose();
    // An attacker replays the signed 1.0.0 manifest, one that also lists 1.1.0 as revoked.
    await host.publish(m('v1RevokesNext'));
    const model = await loadModel(host.url, { backend: 'wasm', publicKey: publicA, update: 'blocking' });
    expect(model.info.version).toBe('1.1.0');
    expect(await onnxDigits.whichRelease(model)).toBe('1.1.0');
    expect((await modelCache.list())[0]).toMatchObject({ activeVersion: '1.1.0' });
    await model.dispose();
  });

  test('the cached manifest is checked again on a cached start: altered in storage, the host is asked and the files are reused', async () => {
    const host = new LiveHost();
    await host.publish(m('v1A'));
    await (await loadModel(host.url, { backend: 'wasm', publicKey: publicA })).dispose();
    const store = defaultCacheStore();
    await store.updateModel(host.url, (r) => {
      const v = r!.versions['1.0.0']!;
      return { ...r!, versions: { '1.0.0': { ...v, manifest: { ...(v.manifest as object), metadata: { labels: ['altered'] } } } } };
    });
    // Even under 'never' the altered copy is not used: it is a miss, so the host is asked.
    const asked = await loadModel(host.url, { backend: 'wasm', publicKey: publicA, update: 'never' });
    expect(asked.info.metadata).toEqual(m('v1A').metadata);
    expect(await host.count(fileOf(m('v1A')))).toBe(1);
    await asked.dispose();
    // The host's copy replaced the altered one: the next start is from the cache, verified.
    const again = await loadModel(host.url, { backend: 'wasm', publicKey: publicA, update: 'never' });
    expect(again.info).toMatchObject({ fromCache: true, metadata: m('v1A').metadata });
    await again.dispose();
    expect(await host.count(fileOf(m('v1A')))).toBe(1);
  });

  test("a private key as publicKey is INPUT_INVALID (the app is leaking it); a key of another type too", async () => {
    const host = new LiveHost();
    await host.publish(m('v1A'));
    const leaked = await expectOndeviceError(loadModel(host.url, { publicKey: privateA }), 'INPUT_INVALID');
    expect(leaked.message).toMatch(/private key/);
    await expectOndeviceError(loadModel(host.url, { publicKey: { kty: 'RSA', n: 'abc', e: 'AQAB' } }), 'INPUT_INVALID');
    expect(await host.count('manifest.json')).toBe(0);
  });
});

describe('expiry', () => {
  test('an expired manifest is never taken: the cached version keeps running and the app hears MANIFEST_EXPIRED', async () => {
    const { host, model, updates } = await afterPublishing(m('v1A'), m('v2Expired'));
    await eventually(() => updates.length > 0, 'onUpdate');
    expect(updates[0]).toMatchObject({ version: '1.0.0', error: { code: 'MANIFEST_EXPIRED' } });
    await model.dispose();
    expect(await host.count(fileOf(m('v2Expired')))).toBe(0);
    await modelCache.clear();
    await expectOndeviceError(loadModel(host.url, { backend: 'wasm', publicKey: publicA }), 'MANIFEST_EXPIRED');
  });

  test('a manifest that expires later is taken', async () => {
    const { model, updates } = await afterPublishing(m('v1A'), m('v2Expires'));
    await eventually(() => updates.length > 0, 'onUpdate');
    expect(updates[0]).toEqual({ version: '1.1.0', previousVersion: '1.0.0', revoked: false });
    await model.dispose();
  });
});

describe('staged rollout', () => {
  test('0 %: a device on 1.0.0 stays; a new device loads 1.0.0 from its per-version manifest; info says it is outside', async () => {
    const { host, model, updates } = await afterPublishing(m('v1A'), m('v2Rollout0'));
    expect(await model.checkForUpdate()).toMatchObject({ available: false });
    expect(updates).toEqual([]);
    expect(await onnxDigits.whichRelease(model)).toBe('1.0.0');
    await model.dispose();
    expect(await host.count(fileOf(m('v2Rollout0')))).toBe(0);
    await quiet();
    await modelCache.clear();
    const fresh = new LiveHost();
    await fresh.put('manifest.1.0.0.json', m('v1A'));
    await fresh.publish(m('v2Rollout0'));
    const newDevice = await loadModel(fresh.url, { backend: 'wasm', publicKey: publicA });
    expect(newDevice.info).toMatchObject({ version: '1.0.0', rollout: { percent: 0, included: false } });
    expect(await onnxDigits.whichRelease(newDevice)).toBe('1.0.0');
    await newDevice.dispose();
    expect(await fresh.count(fileOf(m('v2Rollout0')))).toBe(0);
  });

  test('100 % (the rollout ended): every device moves', async () => {
    const ended = m('v2A');
    const { model, updates } = await afterPublishing(m('v1A'), ended);
    await eventually(() => updates.length > 0, 'onUpdate');
    expect(updates[0]!.version).toBe('1.1.0');
    await model.dispose();
  });

  test('50 %: of 40 simulated devices, exactly those whose bucket is under 50 move, about half', async () => {
    const host = new LiveHost();
    await host.put('manifest.1.0.0.json', m('v1A'));
    await host.publish(m('v2Rollout50'));
    const ids = Array.from({ length: 40 }, (_, i) => `device-${i}`);
    const moved: boolean[] = [];
    for (const id of ids) {
      await quiet();
      await modelCache.clear();
      // The device id comes from the cache store, an interface we own: each load is another device.
      const real = defaultCacheStore();
      const store: CacheStore = { ...real, deviceId: async () => id };
      const device = createModelHost({ runtimes: { onnx: onnxRuntime }, store: () => store });
      const result = loaded(await device.load({ url: host.url, backends: ['wasm'], update: 'blocking', variant: 'auto', version: undefined, maxCacheBytes: undefined, publicKeys: [publicA] }, {}));
      expect(result.info.rollout).toEqual({ percent: 50, included: result.info.version === '1.1.0' });
      moved.push(result.info.version === '1.1.0');
      await device.dispose(result.id);
    }
    const expected = await Promise.all(ids.map(async (id) => (await rolloutBucket(id, 'digits', '1.1.0')) < 50));
    expect(moved).toEqual(expected);
    const share = moved.filter(Boolean).length / ids.length;
    expect(share).toBeGreaterThan(0.25);
    expect(share).toBeLessThan(0.75);
  });
});

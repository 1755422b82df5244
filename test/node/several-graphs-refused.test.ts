/**
 * @file Until releases with several graphs and assets load (issue 24), a device meets one as a clear
 * MANIFEST_INVALID naming the field, never by running the first graph alone or weights without
 * their tokenizer; the version it runs keeps running, and the manifest's revocations still count.
 * Real ondevice/node, a real host on 127.0.0.1.
 */
import { expect, test } from 'vitest';
import { LiveHost, nodeSuite, release, whichRelease, type ManifestJson } from '../support/node-host.js';

const suite = nodeSuite('graphs');
const load = suite.load;

/** The next digits release, as if its publisher had split it in two graphs and added a tokenizer. */
function severalGraphs(next: ManifestJson, extra: Partial<ManifestJson> = {}): ManifestJson {
  const file = next.variants['fp32']!.files[0]!;
  const io = { inputs: next.inputs, outputs: next.outputs };
  return {
    ...next,
    graphs: { encoder_model: io, decoder_model: io },
    variants: { fp32: { files: [{ ...file, graph: 'encoder_model' }, { ...file, graph: 'decoder_model' }] } },
    ...extra,
  } as ManifestJson;
}

test('a first load of a release with several graphs: MANIFEST_INVALID naming "graphs" and the library version', async () => {
  const host = new LiveHost(suite.servers.server);
  await host.publish(severalGraphs(await release('next')));
  const error = await load(host.url).catch((e: unknown) => e);
  expect(error).toMatchObject({ code: 'MANIFEST_INVALID', details: { field: 'graphs', version: '1.1.0' } });
  expect((error as Error).message).toMatch(/several graphs \(encoder_model, decoder_model\), which ondevice \d+\.\d+\.\d+ does not load yet/);
});

test('a release of one graph with assets: MANIFEST_INVALID naming "assets"', async () => {
  const host = new LiveHost(suite.servers.server);
  const next = await release('next');
  const file = next.variants['fp32']!.files[0]!;
  await host.publish({ ...next, assets: [{ name: 'labels.txt', path: file.path, size: file.size, sha256: file.sha256 }] } as ManifestJson);
  await expect(load(host.url)).rejects.toMatchObject({ code: 'MANIFEST_INVALID', details: { field: 'assets' } });
});

test('an update to such a release leaves the running version running, and its revocations still count', async () => {
  const host = new LiveHost(suite.servers.server);
  await host.publish(await release('release'));
  await load(host.url, { update: 'blocking' });
  await host.publish(severalGraphs(await release('next')));
  const model = await load(host.url, { update: 'blocking' });
  expect(model.info.version).toBe('1.0.0');
  expect(model.lastUpdateError).toMatchObject({ code: 'MANIFEST_INVALID', details: { field: 'graphs' } });
  expect(await whichRelease(model, suite.servers.references)).toBe('1.0.0');
  // The publisher revokes 1.0.0 in the new format: the device stops running it.
  await host.publish(severalGraphs(await release('next'), { revoked: ['1.0.0'] }));
  await expect(load(host.url, { update: 'blocking' })).rejects.toMatchObject({ code: 'MANIFEST_INVALID' });
  await expect(load(host.url, { update: 'never' })).rejects.toMatchObject({ code: expect.stringMatching(/VERSION_UNAVAILABLE|MANIFEST_INVALID/) });
});

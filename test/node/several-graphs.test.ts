/**
 * @file A release with several graphs and assets (issue 24) in ondevice/node: the encoder–decoder
 * example published with the CLI in the transformers.js layout, decoded with its cache kept in
 * onnxruntime-node's memory and compared token for token with onnxruntime-node's own loop; the
 * tokenizer read from the release; updates that move graphs and tokenizer together; and the refusals.
 * Real ondevice/node, a real host on 127.0.0.1.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { decode, tokenizerOf } from '../../examples/seq2seq/greedy.js';
import { loadModel, type Model, type NodeLoadOptions, type Tensor, type TensorRef } from '../../src/node/index.js';
import { startModelServer } from '../support/model-server.mjs';
import { LiveHost, type ManifestJson } from '../support/node-host.js';
import { referenceDecodes, seq2seqReleases, SEQ2SEQ, WORDS } from '../support/seq2seq.mjs';

let server: Awaited<ReturnType<typeof startModelServer>>;
let root = '';
let manifests: Record<'1.0.0' | '2.0.0', ManifestJson>;
const references: Record<string, Record<string, number[]>> = {};
let cacheDir = '';
const models: Model[] = [];

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'ondevice-seq2seq-release-'));
  await seq2seqReleases(`${root}/`);
  server = await startModelServer({ root });
  const read = (name: string) => JSON.parse(readFileSync(join(root, 'both', name), 'utf8')) as ManifestJson;
  manifests = { '1.0.0': read('manifest.1.0.0.json'), '2.0.0': read('manifest.2.0.0.json') };
  [references['1.0.0'], references['2.0.0'], references['mixed']] = await Promise.all([referenceDecodes('v1'), referenceDecodes('v2'), referenceDecodes('v2', 'v1')]);
}, 60_000);
afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});
beforeEach(() => {
  cacheDir = mkdtempSync(join(tmpdir(), 'ondevice-seq2seq-'));
  return async () => {
    for (const m of models.splice(0)) await m.dispose();
    rmSync(cacheDir, { recursive: true, force: true });
  };
});

async function load(url: string, options: NodeLoadOptions = {}): Promise<Model> {
  const model = await loadModel(url, { cacheDir, ...options });
  models.push(model);
  return model;
}

async function hosting(version: '1.0.0' | '2.0.0'): Promise<LiveHost> {
  const host = new LiveHost(server.url);
  await host.publish(manifests[version]);
  return host;
}

/** Every word decoded with the running version's own tokenizer. */
async function decodeAll(model: Model): Promise<Record<string, number[]>> {
  const tokenizer = await tokenizerOf(model);
  const out: Record<string, number[]> = {};
  for (const word of WORDS) out[word] = await decode(model, tokenizer, word);
  return out;
}

const int64 = (values: number[]): Tensor => ({ type: 'int64', data: BigInt64Array.from(values.map(BigInt)), dims: [1, values.length] });

test('the fixture: versions differ in weights and tokenizer, so a mixed device would decode other tokens', () => {
  expect(references['1.0.0']).not.toEqual(references['2.0.0']);
  expect(references['mixed']).not.toEqual(references['2.0.0']);
  // Each version reverses the words with its own tokenizer (the model learnt its task).
  for (const version of ['v1', 'v2'] as const) {
    const { vocab } = JSON.parse(readFileSync(`${SEQ2SEQ}${version}/tokenizer.json`, 'utf8')) as { vocab: Record<string, number> };
    const ref = references[version === 'v1' ? '1.0.0' : '2.0.0']!;
    const right = WORDS.filter((w) => JSON.stringify(ref[w]) === JSON.stringify([...w].reverse().map((c) => vocab[c])));
    expect(right.length).toBeGreaterThanOrEqual(WORDS.length - 1);
  }
});

describe('a loaded release of three graphs and three assets', () => {
  test('info lists every graph and asset; decoding with the cache kept equals onnxruntime-node, token for token', async () => {
    const model = await load((await hosting('1.0.0')).url);
    expect(Object.keys(model.info.graphs)).toEqual(['encoder_model', 'decoder_model', 'decoder_with_past_model']);
    expect(model.info.graphs['decoder_with_past_model']!.inputs.map((i) => i.name)).toEqual(['input_ids', 'encoder_hidden_states', 'past_key_values.0.key', 'past_key_values.0.value']);
    expect(model.info.inputs).toEqual(model.info.graphs['encoder_model']!.inputs);
    expect(model.info.assets).toEqual(manifests['1.0.0']['assets']!.valueOf() && (manifests['1.0.0']['assets'] as { name: string; size: number }[]).map(({ name, size }) => ({ name, size })));
    expect(await (await model.asset('tokenizer.json')).text()).toBe(readFileSync(`${SEQ2SEQ}v1/tokenizer.json`, 'utf8'));
    expect(await decodeAll(model)).toEqual(references['1.0.0']);
    // The loop disposed every ref it kept: none is held any more.
    expect((await model.stats()).kept).toBe(0);
  });

  test('a kept output reads back as the tensor a plain run returns, and is accepted by another graph', async () => {
    const model = await load((await hosting('1.0.0')).url);
    const plain = await model.run({ input_ids: int64([5, 6, 7]) });
    const kept = await model.run({ input_ids: int64([5, 6, 7]) }, { graph: 'encoder_model', keep: true });
    const ref = kept['last_hidden_state'] as TensorRef;
    expect(ref).toMatchObject({ kept: true, type: 'float32', dims: [1, 3, 64], location: 'cpu' });
    expect('data' in ref).toBe(false);
    const read = await model.read(ref);
    expect(Array.from(read.data as Float32Array)).toEqual(Array.from(plain['last_hidden_state']!.data as Float32Array));
    // Read twice: the ref is still usable, and its data was copied out.
    expect((await model.read(ref)).dims).toEqual([1, 3, 64]);
    expect((await model.stats()).kept).toBe(1);
    const step = await model.run({ input_ids: int64([1]), encoder_hidden_states: ref }, { graph: 'decoder_model' });
    const viaData = await model.run({ input_ids: int64([1]), encoder_hidden_states: read }, { graph: 'decoder_model' });
    expect(Array.from((step['logits'] as Tensor).data as Float32Array)).toEqual(Array.from((viaData['logits'] as Tensor).data as Float32Array));
  });

  test('refusals: INPUT_INVALID for an unknown graph, output or asset, and a ref disposed, another model\'s, or from before reload()', async () => {
    const url = (await hosting('1.0.0')).url;
    const model = await load(url);
    await expect(model.run({ input_ids: int64([5]) }, { graph: 'decoder' })).rejects.toMatchObject({ code: 'INPUT_INVALID', details: { input: 'graph', actual: 'decoder' } });
    await expect(model.run({ input_ids: int64([5]) }, { graph: 'encoder_model', keep: ['hidden'] })).rejects.toMatchObject({ code: 'INPUT_INVALID', details: { input: 'keep', actual: ['hidden'] } });
    const assetError = await model.asset('vocab.txt').catch((e: unknown) => e);
    expect(assetError).toMatchObject({ code: 'INPUT_INVALID', details: { expected: ['config.json', 'generation_config.json', 'tokenizer.json'] } });
    expect((assetError as Error).message).toContain('"tokenizer.json"');

    const ref = (await model.run({ input_ids: int64([5]) }, { graph: 'encoder_model', keep: true }))['last_hidden_state'] as TensorRef;
    await ref.dispose();
    await ref.dispose();
    await expect(model.run({ input_ids: int64([1]), encoder_hidden_states: ref }, { graph: 'decoder_model' })).rejects.toMatchObject({ code: 'INPUT_INVALID', message: expect.stringMatching(/was disposed/) });
    // The refused call did not swallow the disposal it would have carried: nothing is held.
    expect((await model.stats()).kept).toBe(0);
    await expect(model.read(ref)).rejects.toMatchObject({ code: 'INPUT_INVALID' });

    const other = await load(url);
    const foreign = (await other.run({ input_ids: int64([5]) }, { graph: 'encoder_model', keep: true }))['last_hidden_state'] as TensorRef;
    await expect(model.run({ input_ids: int64([1]), encoder_hidden_states: foreign }, { graph: 'decoder_model' })).rejects.toMatchObject({ code: 'INPUT_INVALID', message: expect.stringMatching(/another model/) });

    const before = (await model.run({ input_ids: int64([5]) }, { graph: 'encoder_model', keep: true }))['last_hidden_state'] as TensorRef;
    await model.reload();
    await expect(model.run({ input_ids: int64([1]), encoder_hidden_states: before }, { graph: 'decoder_model' })).rejects.toMatchObject({ code: 'INPUT_INVALID', message: expect.stringMatching(/before reload/) });
    // The model itself is fine: the same loop still decodes.
    expect(await decodeAll(model)).toEqual(references['1.0.0']);
    expect((await model.stats()).failures['INPUT_INVALID']).toBeGreaterThanOrEqual(5);
  });
});

describe('updates move the whole release', () => {
  test('2.0.0 arrives: graphs and tokenizer switch together, and only the files whose hashes changed are downloaded', async () => {
    const host = await hosting('1.0.0');
    const model = await load(host.url);
    await host.publish(manifests['2.0.0']);
    expect(await model.checkForUpdate()).toMatchObject({ available: true, version: '2.0.0' });
    // Still 1.0.0 until reload(): its own tokenizer and weights.
    expect(JSON.parse(await (await model.asset('tokenizer.json')).text())).toMatchObject({ version: '1.0.0' });
    await model.reload();
    expect(model.info.version).toBe('2.0.0');
    expect(JSON.parse(await (await model.asset('tokenizer.json')).text())).toMatchObject({ version: '2.0.0' });
    expect(await decodeAll(model)).toEqual(references['2.0.0']);
    const requests = (await host.requests()).filter((r) => !r.path.endsWith('manifest.json'));
    const fetched = (name: string) => requests.filter((r) => r.path.endsWith(`/${name}`)).length;
    const assets = (v: '1.0.0' | '2.0.0') => Object.fromEntries((manifests[v]['assets'] as { name: string; path: string }[]).map((a) => [a.name, a.path]));
    // config.json and generation_config.json are the same bytes in both versions: fetched once.
    expect(assets('2.0.0')['config.json']).toBe(assets('1.0.0')['config.json']);
    expect(fetched(assets('1.0.0')['config.json']!)).toBe(1);
    expect(fetched(assets('2.0.0')['tokenizer.json']!)).toBe(1);
  });

  const broken: Array<[string, (m: ManifestJson) => Record<string, string>]> = [
    ['one graph file corrupt', (m) => ({ [m.variants['fp32']!.files[3]!.path]: m.variants['fp32']!.files[0]!.path })],
    ['one asset missing', (m) => ({ [(m['assets'] as { path: string }[])[2]!.path]: 'no-such-file.json' })],
    ['an asset whose bytes hash wrong', (m) => ({ [(m['assets'] as { path: string }[])[2]!.path]: (manifests['1.0.0']['assets'] as { path: string }[])[2]!.path })],
  ];
  test.each(broken)('a newer version with %s never activates; the running version keeps its graphs and tokenizer together', async (_, swap) => {
    const host = await hosting('1.0.0');
    await load(host.url);
    await host.publish(manifests['2.0.0']);
    await host.swap(swap(manifests['2.0.0']));
    const model = await load(host.url, { update: 'blocking', retry: { retries: 0 } });
    expect(model.info.version).toBe('1.0.0');
    expect(model.lastUpdateError?.code).toMatch(/INTEGRITY_MISMATCH|DOWNLOAD_FAILED/);
    expect(JSON.parse(await (await model.asset('tokenizer.json')).text())).toMatchObject({ version: '1.0.0' });
    expect(await decodeAll(model)).toEqual(references['1.0.0']);
    await expect(model.checkForUpdate()).rejects.toMatchObject({ code: expect.stringMatching(/INTEGRITY_MISMATCH|DOWNLOAD_FAILED/) });
    expect(model.info.version).toBe('1.0.0');
    // Fixed on the host: the whole of 2.0.0 arrives.
    await host.swap({});
    expect(await model.checkForUpdate()).toMatchObject({ available: true, version: '2.0.0' });
  });
});

describe('ondevice serve', () => {
  test('serves each graph as <name>.<graph> and the default graph as <name>: metadata, infer, metrics', async () => {
    const { startServer } = await import('../../src/serve/server.js');
    const running = await startServer({ models: [join(root, 'v1', 'manifest.json')], port: 0, cacheDir, updateInterval: 0, log: () => undefined });
    try {
      await running.started;
      const base = `${running.url}/v2/models`;
      const meta = async (name: string) => (await fetch(`${base}/${name}`)).json() as Promise<{ name: string; inputs: { name: string; datatype: string }[]; outputs: { name: string }[] }>;
      expect(await meta('reverse')).toMatchObject({ name: 'reverse', inputs: [{ name: 'input_ids', datatype: 'INT64' }], outputs: [{ name: 'last_hidden_state' }] });
      const past = await meta('reverse.decoder_with_past_model');
      expect(past.name).toBe('reverse.decoder_with_past_model');
      expect(past.inputs.map((i) => i.name)).toEqual(['input_ids', 'encoder_hidden_states', 'past_key_values.0.key', 'past_key_values.0.value']);
      const missing = await fetch(`${base}/reverse.decoder`);
      expect(missing.status).toBe(404);
      expect(((await missing.json()) as { error: string }).error).toContain('"reverse.decoder_model"');

      const infer = async (name: string, inputs: unknown[]) => {
        const response = await fetch(`${base}/${name}/infer`, { method: 'POST', body: JSON.stringify({ inputs }), headers: { 'content-type': 'application/json' } });
        return { status: response.status, body: (await response.json()) as { model_name: string; outputs: { name: string; shape: number[]; data: number[] }[] } };
      };
      const encoded = await infer('reverse.encoder_model', [{ name: 'input_ids', shape: [1, 3], datatype: 'INT64', data: [5, 6, 7] }]);
      expect(encoded.status).toBe(200);
      expect(encoded.body.model_name).toBe('reverse.encoder_model');
      expect(encoded.body.outputs[0]).toMatchObject({ name: 'last_hidden_state', shape: [1, 3, 64] });
      // The same numbers as ondevice/node's own run of that graph.
      const model = await load(join(root, 'v1', 'manifest.json'));
      const own = await model.run({ input_ids: int64([5, 6, 7]) }, { graph: 'encoder_model' });
      const ownData = Array.from((own['last_hidden_state'] as Tensor).data as Float32Array);
      expect(encoded.body.outputs[0]!.data.every((v, i) => Math.abs(v - ownData[i]!) <= 1e-6)).toBe(true);
      const step = await infer('reverse.decoder_model', [
        { name: 'input_ids', shape: [1, 1], datatype: 'INT64', data: [1] },
        { name: 'encoder_hidden_states', shape: [1, 3, 64], datatype: 'FP32', data: encoded.body.outputs[0]!.data },
      ]);
      expect(step.body.outputs.map((o) => [o.name, o.shape])).toEqual([['logits', [1, 1, 29]], ['present.0.key', [1, 2, 1, 32]], ['present.0.value', [1, 2, 1, 32]]]);
      // The default name is the default graph: a decoder's inputs are refused there, with the reason.
      expect((await infer('reverse', [{ name: 'encoder_hidden_states', shape: [1, 3, 64], datatype: 'FP32', data: encoded.body.outputs[0]!.data }])).status).toBe(400);
      const metrics = await (await fetch(`${running.url}/metrics`)).text();
      expect(metrics).toMatch(/model="reverse\.encoder_model"/);
      expect(metrics).toMatch(/model="reverse\.decoder_model"/);
    } finally {
      await running.close();
    }
  });
});

test('serve: a model whose own name looks like another model\'s graph route is found by its name first', async () => {
  const { startServer } = await import('../../src/serve/server.js');
  // Two models: "reverse" (graphs encoder_model, …) and one published as "reverse.encoder_model".
  const lookalike = mkdtempSync(join(tmpdir(), 'ondevice-lookalike-'));
  try {
    const { main } = await import('../../src/cli/main.js');
    const io = { out: () => undefined, err: () => undefined };
    expect(await main(['publish', join(SEQ2SEQ, 'v1', 'onnx', 'decoder_with_past_model.onnx'), lookalike, '--version', '1.0.0', '--name', 'reverse.encoder_model'], io)).toBe(0);
    const running = await startServer({ models: [join(root, 'v1', 'manifest.json'), join(lookalike, 'manifest.json')], port: 0, cacheDir, updateInterval: 0, log: () => undefined });
    try {
      await running.started;
      const meta = (await (await fetch(`${running.url}/v2/models/reverse.encoder_model`)).json()) as { inputs: { name: string }[] };
      // The look-alike's own inputs (a decoder's), not graph encoder_model of "reverse".
      expect(meta.inputs.map((i) => i.name)).toContain('past_key_values.0.key');
    } finally {
      await running.close();
    }
  } finally {
    rmSync(lookalike, { recursive: true, force: true });
  }
});

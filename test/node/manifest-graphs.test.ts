/**
 * @file The manifest of a release with several graphs and assets (DESIGN.md, "Models as the field
 * ships them"): the valid layout is read as written, and each defect is MANIFEST_INVALID naming
 * its field. A single-graph manifest is read as before (test/node/manifest.test.ts).
 */
import { describe, expect, test } from 'vitest';
import { parseManifest } from '../../src/manifest/parse.js';
import { manifestFieldOf } from '../support/manifest-field.js';

const URL_ = 'https://models.example.com/scribe/manifest.json';
const hash = (c: string) => c.repeat(64);
const io = (name: string) => ({ inputs: [{ name: `${name}_in`, type: 'float32', dims: ['batch', 4] }], outputs: [{ name: `${name}_out`, type: 'float32', dims: ['batch', 4] }] });

function scribe(): any {
  return {
    format: 'ondevice/1',
    name: 'scribe',
    version: '1.0.0',
    runtime: 'onnx',
    graphs: { encoder_model: io('enc'), decoder_model: io('dec'), 'decoder_with_past_model': io('past') },
    variants: {
      fp32: {
        files: [
          { path: 'encoder_model.fp32.1a2b3c4d.onnx', size: 10, sha256: hash('a'), graph: 'encoder_model' },
          { path: 'decoder_model.fp32.5e6f7a8b.onnx', size: 11, sha256: hash('b'), graph: 'decoder_model' },
          { path: 'decoder_with_past_model.fp32.9c0d1e2f.onnx', size: 12, sha256: hash('c'), graph: 'decoder_with_past_model' },
          { path: 'decoder_with_past_model.fp32.3a4b5c6d.onnx_data', size: 13, sha256: hash('d'), graph: 'decoder_with_past_model' },
        ],
      },
      int8: {
        files: [
          { path: 'encoder_model.int8.aaaaaaaa.onnx', size: 5, sha256: hash('e'), graph: 'encoder_model' },
          { path: 'decoder_model.int8.bbbbbbbb.onnx', size: 6, sha256: hash('f'), graph: 'decoder_model' },
          { path: 'decoder_with_past_model.int8.cccccccc.onnx', size: 7, sha256: hash('1'), graph: 'decoder_with_past_model' },
        ],
      },
    },
    assets: [
      { name: 'tokenizer.json', path: 'tokenizer.7e8f9a0b.json', size: 475, sha256: hash('2') },
      { name: 'config.json', path: 'config.1c2d3e4f.json', size: 154, sha256: hash('3') },
    ],
  };
}

const fieldOf = (value: unknown) => manifestFieldOf(value, URL_);

const changed = (change: (m: any) => void) => {
  const m = scribe();
  change(m);
  return m;
};

describe('a release with several graphs and assets', () => {
  test('is read as written: graphs in order (the first is the default), each file with its graph, assets resolved', () => {
    const m = parseManifest(scribe(), URL_);
    expect(Object.keys(m.graphs!)).toEqual(['encoder_model', 'decoder_model', 'decoder_with_past_model']);
    expect(m.graphs!['decoder_model']!.inputs[0]!.name).toBe('dec_in');
    expect(m.variants['fp32']!.files.map((f) => f.graph)).toEqual(['encoder_model', 'decoder_model', 'decoder_with_past_model', 'decoder_with_past_model']);
    expect(m.assets).toEqual([
      { name: 'tokenizer.json', path: 'tokenizer.7e8f9a0b.json', url: 'https://models.example.com/scribe/tokenizer.7e8f9a0b.json', size: 475, sha256: hash('2') },
      { name: 'config.json', path: 'config.1c2d3e4f.json', url: 'https://models.example.com/scribe/config.1c2d3e4f.json', size: 154, sha256: hash('3') },
    ]);
    // The top-level inputs and outputs, when absent, are the default graph's.
    expect(m.inputs).toEqual(m.graphs!['encoder_model']!.inputs);
    expect(m.outputs).toEqual(m.graphs!['encoder_model']!.outputs);
  });

  test('graph names are the exporters\' stems as they are: letters, digits, ".", "_" and "-"', () => {
    expect(fieldOf(changed((m) => {
      m.graphs = { 'ch_PP-OCRv4_det_infer': io('a'), 'hey_jarvis_v0.1': io('b') };
      m.variants = { fp32: { files: [{ path: 'a.onnx', size: 1, sha256: hash('a'), graph: 'ch_PP-OCRv4_det_infer' }, { path: 'b.onnx', size: 1, sha256: hash('b'), graph: 'hey_jarvis_v0.1' }] } };
    }))).toBeUndefined();
    expect(fieldOf(changed((m) => (m.graphs = { 'a/b': io('a') })))).toBe('graphs.a/b');
    expect(fieldOf(changed((m) => (m.graphs = { '..': io('b') })))).toBe('graphs...');
    expect(fieldOf(changed((m) => (m.graphs = { __proto__x: io('b') })))).toBe('graphs.__proto__x');
    expect(fieldOf(changed((m) => (m.graphs = {})))).toBe('graphs');
    expect(fieldOf(changed((m) => (m.graphs = [io('a')])))).toBe('graphs');
    expect(fieldOf(changed((m) => delete m.graphs.decoder_model.inputs))).toBe('graphs.decoder_model.inputs');
  });

  test('a variant missing a graph names the variant and the graph', () => {
    let message = '';
    try {
      parseManifest(changed((m) => m.variants.int8.files.pop()), URL_);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(fieldOf(changed((m) => m.variants.int8.files.pop()))).toBe('variants.int8.files');
    expect(message).toMatch(/has no file of graph "decoder_with_past_model"/);
  });

  test('a file naming an unknown graph, or none, when the release has graphs', () => {
    expect(fieldOf(changed((m) => (m.variants.fp32.files[1].graph = 'decoder')))).toBe('variants.fp32.files[1].graph');
    expect(fieldOf(changed((m) => delete m.variants.fp32.files[0].graph))).toBe('variants.fp32.files[0].graph');
  });

  test('a file naming a graph in a release without graphs', () => {
    expect(fieldOf(changed((m) => {
      delete m.graphs;
      m.inputs = io('x').inputs;
      m.outputs = io('x').outputs;
      m.variants = { fp32: { files: [{ path: 'model.onnx', size: 1, sha256: hash('a'), graph: 'encoder_model' }] } };
    }))).toBe('variants.fp32.files[0].graph');
  });

  test('assets: a name with "/" or "..", duplicate names, a path off the host, a bad hash: each named', () => {
    expect(fieldOf(changed((m) => (m.assets[0].name = 'onnx/tokenizer.json')))).toBe('assets[0].name');
    expect(fieldOf(changed((m) => (m.assets[0].name = '..')))).toBe('assets[0].name');
    expect(fieldOf(changed((m) => (m.assets[1].name = 'tokenizer.json')))).toBe('assets[1].name');
    expect(fieldOf(changed((m) => (m.assets[0].path = 'https://elsewhere.example.com/tokenizer.json')))).toBe('assets[0].path');
    expect(fieldOf(changed((m) => (m.assets[1].sha256 = 'abc')))).toBe('assets[1].sha256');
    expect(fieldOf(changed((m) => (m.assets = { 'tokenizer.json': {} })))).toBe('assets');
  });

  test('a single-graph release may carry assets too (labels, a vocabulary)', () => {
    const m = parseManifest(
      changed((m) => {
        delete m.graphs;
        m.inputs = io('x').inputs;
        m.outputs = io('x').outputs;
        m.variants = { fp32: { files: [{ path: 'model.onnx', size: 1, sha256: hash('a') }] } };
      }),
      URL_,
    );
    expect(m.graphs).toBeNull();
    expect(m.assets.map((a) => a.name)).toEqual(['tokenizer.json', 'config.json']);
  });
});

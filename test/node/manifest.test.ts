/** @file Manifest validation: the real digits manifest passes; each defect is MANIFEST_INVALID naming its field. */
import { describe, expect, test } from 'vitest';
import { parseManifest } from '../../src/manifest/parse.js';
import { manifestFieldOf } from '../support/manifest-field.js';
import { digitsManifest } from '../support/digits.mjs';

const URL_ = 'https://models.example.com/digits/manifest.json';

function withChange(change: (m: any) => void): unknown {
  const manifest = structuredClone(digitsManifest());
  change(manifest);
  return manifest;
}

const fieldOf = (value: unknown) => manifestFieldOf(value, URL_);

describe('parseManifest', () => {
  test('accepts the published digits manifest and resolves paths against its URL', () => {
    const manifest = parseManifest(digitsManifest(), URL_);
    const file = manifest.variants['fp32']!.files[0]!;
    expect(file.url).toBe(`https://models.example.com/digits/${file.path}`);
    expect(manifest).toMatchObject({ name: 'digits', version: '1.0.0', runtime: 'onnx', revoked: [] });
    expect(manifest.metadata['labels']).toHaveLength(10);
  });

  test('ignores unknown fields', () => {
    expect(fieldOf(withChange((m) => (m.somethingNew = { x: 1 })))).toBeUndefined();
  });

  test('a manifest that is not an object', () => {
    expect(fieldOf('hello')).toBe('(root)');
  });

  test.each<[string, (m: any) => void, string]>([
    ['wrong format', (m) => (m.format = 'ondevice/2'), 'format'],
    ['missing name', (m) => delete m.name, 'name'],
    ['version not semver', (m) => (m.version = 'v1'), 'version'],
    ['unknown runtime', (m) => (m.runtime = 'pytorch'), 'runtime'],
    ['no variants', (m) => (m.variants = {}), 'variants'],
    ['variant without files', (m) => (m.variants.fp32.files = []), 'variants.fp32.files'],
    ['file without sha256', (m) => delete m.variants.fp32.files[0].sha256, 'variants.fp32.files[0].sha256'],
    ['uppercase sha256', (m) => (m.variants.fp32.files[0].sha256 = 'A'.repeat(64)), 'variants.fp32.files[0].sha256'],
    ['fractional size', (m) => (m.variants.fp32.files[0].size = 1.5), 'variants.fp32.files[0].size'],
    ['absolute URL on another host', (m) => (m.variants.fp32.files[0].path = 'https://cdn.example.net/x.onnx'), 'variants.fp32.files[0].path'],
    ['protocol-relative URL', (m) => (m.variants.fp32.files[0].path = '//cdn.example.net/x.onnx'), 'variants.fp32.files[0].path'],
    ['requires not a list', (m) => (m.variants.fp32.requires = 'shader-f16'), 'variants.fp32.requires'],
    ['inputs missing', (m) => delete m.inputs, 'inputs'],
    ['negative dim', (m) => (m.inputs[0].dims[1] = -1), 'inputs[0].dims[1]'],
    ['output without name', (m) => delete m.outputs[0].name, 'outputs[0].name'],
    ['metadata an array', (m) => (m.metadata = []), 'metadata'],
    ['revoked with a number', (m) => (m.revoked = [1]), 'revoked[0]'],
  ])('%s → field %s', (_, change, field) => {
    expect(fieldOf(withChange(change))).toBe(field);
  });

  test('the message names the field and what to do', () => {
    try {
      parseManifest(withChange((m) => (m.version = 'latest')), URL_);
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toBe(`Manifest field "version" must be a semantic version such as "1.2.0", got "latest". Fix the manifest at ${URL_}.`);
    }
  });

  test('a variant named __proto__ (or anything the CLI would not write) is MANIFEST_INVALID naming it, not a raw TypeError', () => {
    const fp32 = JSON.stringify(digitsManifest().variants.fp32);
    for (const name of ['__proto__', 'FP32', 'a b', '']) {
      // JSON.parse makes "__proto__" an own key, as a manifest from the network would have it.
      const hostile = JSON.parse(JSON.stringify(digitsManifest()).replace('"variants":{', `"variants":{${JSON.stringify(name)}:${fp32},`));
      expect(fieldOf(hostile), name).toBe(`variants.${name}`);
    }
  });

  test('parsed variants have no prototype: an inherited name is never a variant', () => {
    const manifest = parseManifest(digitsManifest(), URL_);
    expect(Object.getPrototypeOf(manifest.variants)).toBeNull();
    expect(manifest.variants['toString' as 'fp32']).toBeUndefined();
  });

  test('a file size larger than any device could hold is refused, naming the field', () => {
    expect(fieldOf(withChange((m) => (m.variants.fp32.files[0].size = 2 ** 40)))).toBe('variants.fp32.files[0].size');
    expect(fieldOf(withChange((m) => (m.variants.fp32.files[0].size = 2 ** 30)))).toBeUndefined();
  });

  test('one semver rule: a "v" prefix is not a version, here or in comparisons', () => {
    expect(fieldOf(withChange((m) => (m.version = 'v1.2.0')))).toBe('version');
  });
});

/**
 * A tiny TF.js graph model with a dynamic-shape op, for the tests: `nonzero = Where(x)`, the indices
 * of x's non-zero entries. TF.js runs such graphs only through `executeAsync`, so it exercises that
 * path of the adapter. Written by hand (no weights) and published with the project's CLI:
 *
 *     npm run build && node models/tfjs-nonzero/make.mjs
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const source = `${HERE}.work/nonzero`;
rmSync(`${HERE}.work`, { recursive: true, force: true });
mkdirSync(source, { recursive: true });
const float = { type: 'DT_FLOAT' };
const json = {
  format: 'graph-model',
  generatedBy: 'models/tfjs-nonzero/make.mjs',
  convertedBy: null,
  modelTopology: {
    node: [
      { name: 'x', op: 'Placeholder', attr: { shape: { shape: { dim: [{ size: '-1' }] } }, dtype: float } },
      { name: 'Where', op: 'Where', input: ['x'], attr: { T: float } },
      { name: 'nonzero', op: 'Identity', input: ['Where'], attr: { T: { type: 'DT_INT64' } } },
    ],
    library: {},
    versions: { producer: 1 },
  },
  signature: {
    inputs: { x: { name: 'x:0', dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '-1' }] } } },
    outputs: { nonzero: { name: 'nonzero:0', dtype: 'DT_INT32', tensorShape: { dim: [{ size: '-1' }, { size: '1' }] } } },
  },
  weightsManifest: [],
};
writeFileSync(`${source}/model.json`, JSON.stringify(json));
const out = `${HERE}release`;
rmSync(out, { recursive: true, force: true });
execFileSync('node', [CLI, 'publish', source, out, '--version', '1.0.0', '--name', 'nonzero'], { stdio: 'inherit' });
rmSync(`${HERE}.work`, { recursive: true, force: true });

/**
 * Models no onnxruntime build runs, whatever the device (MODEL_INVALID, never BACKEND_UNAVAILABLE):
 *   bfloat16-add.onnx   Add on bfloat16 tensors (no CPU or WASM kernel for it)
 *   training-op.onnx    an op from ai.onnx.preview.training (Adagrad), which inference builds lack
 * Run: node models/unsupported/make.mjs (writes the files beside this script, byte for byte the same each time).
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const { onnx } = createRequire(import.meta.url)('onnx-proto');
const tensor = (name, elemType) => ({ name, type: { tensorType: { elemType, shape: { dim: [{ dimValue: 2 }] } } } });
const write = (file, model) => writeFileSync(new URL(file, import.meta.url), onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish());
const BFLOAT16 = 16;
const FLOAT = 1;
const INT64 = 7;

write('bfloat16-add.onnx', {
  irVersion: 8,
  producerName: 'ondevice-fixtures',
  opsetImport: [{ domain: '', version: 17 }],
  graph: { name: 'bfloat16-add', node: [{ opType: 'Add', input: ['a', 'b'], output: ['c'] }], input: [tensor('a', BFLOAT16), tensor('b', BFLOAT16)], output: [tensor('c', BFLOAT16)] },
});
write('training-op.onnx', {
  irVersion: 8,
  producerName: 'ondevice-fixtures',
  opsetImport: [{ domain: '', version: 17 }, { domain: 'ai.onnx.preview.training', version: 1 }],
  graph: {
    name: 'training-op',
    node: [{ opType: 'Adagrad', domain: 'ai.onnx.preview.training', input: ['r', 't', 'x', 'g', 'h'], output: ['x2', 'h2'] }],
    input: [tensor('r', FLOAT), tensor('t', INT64), tensor('x', FLOAT), tensor('g', FLOAT), tensor('h', FLOAT)],
    output: [tensor('x2', FLOAT), tensor('h2', FLOAT)],
  },
});

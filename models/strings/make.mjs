/**
 * Models whose inputs or outputs are ONNX `string` tensors, as the ONNX backend tests have them:
 *   normalizer.onnx   StringNormalizer (lower-case, stop word "the", locale C): string [n] → string [m]
 *   cast.onnx         Cast float → string, and the number's text back to float: float [n] → string [n], float [n]
 * Run: node models/strings/make.mjs (the same bytes each time).
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const { onnx } = createRequire(import.meta.url)('onnx-proto');
const FLOAT = 1;
const STRING = 8;
const tensor = (name, elemType, dim) => ({ name, type: { tensorType: { elemType, shape: { dim: [typeof dim === 'string' ? { dimParam: dim } : { dimValue: dim }] } } } });
const write = (file, model) => writeFileSync(new URL(file, import.meta.url), onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish());

write('normalizer.onnx', {
  irVersion: 8,
  producerName: 'ondevice-fixtures',
  opsetImport: [{ domain: '', version: 17 }],
  graph: {
    name: 'normalizer',
    node: [
      {
        opType: 'StringNormalizer',
        input: ['text'],
        output: ['normalized'],
        attribute: [
          { name: 'case_change_action', type: 3, s: new TextEncoder().encode('LOWER') },
          { name: 'is_case_sensitive', type: 2, i: 0 },
          { name: 'stopwords', type: 8, strings: [new TextEncoder().encode('the')] },
          // Not the default en_US.UTF-8, which a machine without that locale cannot construct.
          { name: 'locale', type: 3, s: new TextEncoder().encode('C') },
        ],
      },
    ],
    input: [tensor('text', STRING, 'n')],
    output: [tensor('normalized', STRING, 'm')],
  },
});
write('cast.onnx', {
  irVersion: 8,
  producerName: 'ondevice-fixtures',
  opsetImport: [{ domain: '', version: 17 }],
  graph: {
    name: 'cast',
    node: [
      { opType: 'Cast', input: ['x'], output: ['text'], attribute: [{ name: 'to', type: 2, i: STRING }] },
      { opType: 'Cast', input: ['text'], output: ['back'], attribute: [{ name: 'to', type: 2, i: FLOAT }] },
    ],
    input: [tensor('x', FLOAT, 'n')],
    output: [tensor('text', STRING, 'n'), tensor('back', FLOAT, 'n')],
  },
});

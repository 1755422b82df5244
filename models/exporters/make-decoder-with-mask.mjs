/**
 * decoder-with-mask.onnx: a decoder step as Optimum exports a decoder-only language model, for
 * `generate()`'s attention mask and cache feed. Inputs `input_ids` int64 [1, 1], `attention_mask`
 * int64 [1, n] (one position longer each step), `past_key_values` float [1, p]; outputs `logits`
 * [1, 1, 16], one-hot at (sum(attention_mask) + sum(past_key_values)) mod 16, and `present`, the past
 * with this step's token appended. A loop that does not grow the mask, or does not feed `present`
 * back, picks other tokens.
 * Run: node models/exporters/make-decoder-with-mask.mjs (the same bytes each time).
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const { onnx } = createRequire(import.meta.url)('onnx-proto');
const [FLOAT, INT64] = [1, 7];
const VOCAB = 16;
const int64s = (name, dims, values) => ({ name, dataType: INT64, dims, rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) });
const floats = (name, dims, values) => ({ name, dataType: FLOAT, dims, rawData: new Uint8Array(Float32Array.from(values).buffer) });
const value = (name, elemType, dims) => ({ name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } });
const attr = { int: (name, i) => ({ name, type: 2, i }) };

const model = onnx.ModelProto.create({
  irVersion: 8,
  producerName: 'ondevice-fixtures',
  opsetImport: [{ domain: '', version: 13 }],
  graph: {
    name: 'decoder-step',
    node: [
      { opType: 'ReduceSum', input: ['attention_mask'], output: ['mask_sum'], attribute: [attr.int('keepdims', 0)] },
      { opType: 'ReduceSum', input: ['past_key_values'], output: ['past_sum'], attribute: [attr.int('keepdims', 0)] },
      { opType: 'Cast', input: ['past_sum'], output: ['past_sum_i'], attribute: [attr.int('to', INT64)] },
      { opType: 'Add', input: ['mask_sum', 'past_sum_i'], output: ['total'] },
      { opType: 'Mod', input: ['total', 'vocab'], output: ['index'] },
      { opType: 'Reshape', input: ['index', 'one_one'], output: ['index_2d'] },
      { opType: 'OneHot', input: ['index_2d', 'vocab', 'off_on'], output: ['logits'], attribute: [attr.int('axis', -1)] },
      { opType: 'Cast', input: ['input_ids'], output: ['ids_f'], attribute: [attr.int('to', FLOAT)] },
      { opType: 'Concat', input: ['past_key_values', 'ids_f'], output: ['present'], attribute: [attr.int('axis', 1)] },
    ],
    initializer: [int64s('vocab', [], [VOCAB]), int64s('one_one', [2], [1, 1]), floats('off_on', [2], [0, 1])],
    input: [value('input_ids', INT64, [1, 1]), value('attention_mask', INT64, [1, 'total_length']), value('past_key_values', FLOAT, [1, 'past_length'])],
    output: [value('logits', FLOAT, [1, 1, VOCAB]), value('present', FLOAT, [1, 'present_length'])],
  },
});
writeFileSync(new URL('decoder-with-mask.onnx', import.meta.url), onnx.ModelProto.encode(model).finish());

/**
 * @file The file names of transformers.js / Optimum repos (`onnx/<graph>[_quantized|_fp16|_q4|…].onnx`
 * and their `.onnx_data`), read as a graph and a variant. Shared by `ondevice publish`, which takes such
 * a folder as a release, and `transformersCache`, which answers transformers.js's requests for those
 * names from the release.
 */

/** Suffixes of transformers.js's `onnx/` file names and the variant each means (longest first). */
const SUFFIXES: ReadonlyArray<readonly [string, string]> = [
  ['_quantized', 'int8'],
  ['_q4f16', 'q4f16'],
  ['_uint8', 'uint8'],
  ['_int8', 'int8'],
  ['_fp16', 'fp16'],
  ['_bnb4', 'bnb4'],
  ['_q4', 'q4'],
];

/** A file name's graph and variant: `decoder_model_quantized.onnx` → decoder_model, int8 (any folder part is ignored). */
export function graphOf(file: string): { graph: string; variant: string } {
  const name = file.slice(file.lastIndexOf('/') + 1);
  const stem = name.toLowerCase().endsWith('.onnx') ? name.slice(0, -'.onnx'.length) : name;
  for (const [suffix, variant] of SUFFIXES) {
    if (stem.endsWith(suffix) && stem.length > suffix.length) return { graph: stem.slice(0, -suffix.length), variant };
  }
  return { graph: stem, variant: 'fp32' };
}

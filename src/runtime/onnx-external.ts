/**
 * @file Which files an ONNX model's tensors say their data lives in (ONNX external data), read by
 * walking the model's protobuf without decoding it: weights are skipped by their length, never read,
 * so a 100 MB model costs a walk over its few thousand fields. A runtime given a model whose
 * tensors name a file the release did not supply would read it from wherever it can (onnxruntime-node:
 * relative to the working directory, e.g. `.env`), and hand its bytes back in the outputs; so such a
 * model is refused before a session is created.
 * Field numbers: https://github.com/onnx/onnx/blob/main/onnx/onnx.proto
 */
import { OndeviceError } from '../errors.js';

type Kind = 'model' | 'graph' | 'node' | 'attribute' | 'tensor' | 'sparse' | 'function' | 'training' | 'entry';

/** For each message kind, the fields that hold messages worth walking into, and what they are. */
const CHILDREN: Record<Exclude<Kind, 'entry'>, Readonly<Record<number, Kind>>> = {
  model: { 7: 'graph', 20: 'training', 25: 'function' },
  graph: { 1: 'node', 5: 'tensor', 15: 'sparse' },
  node: { 5: 'attribute' },
  attribute: { 5: 'tensor', 6: 'graph', 10: 'tensor', 11: 'graph', 22: 'sparse', 23: 'sparse' },
  sparse: { 1: 'tensor', 2: 'tensor' },
  function: { 7: 'node' },
  training: { 1: 'graph', 2: 'graph' },
  tensor: { 13: 'entry' },
};
const DATA_LOCATION = 14;
const EXTERNAL = 1;

class Malformed extends Error {}

/** The external-data locations of `model`'s tensors, in order of first use. Throws `MODEL_INVALID` for bytes that are not a protobuf. */
export function externalDataLocations(model: Uint8Array, file = 'the model', extra: Record<string, unknown> = {}): string[] {
  const found = new Set<string>();
  const decoder = new TextDecoder();
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      if (pos >= model.length) throw new Malformed();
      const byte = model[pos++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    throw new Malformed();
  };
  /** A `StringStringEntryProto` in [pos, end): its key and value. */
  const entry = (end: number): { key?: string; value?: string } => {
    const out: { key?: string; value?: string } = {};
    while (pos < end) {
      const tag = varint();
      if ((tag & 7) !== 2) throw new Malformed();
      const length = varint(); // read first: it moves `pos`
      const stop = pos + length;
      if (stop > end) throw new Malformed();
      const text = decoder.decode(model.subarray(pos, stop));
      if (tag >> 3 === 1) out.key = text;
      else if (tag >> 3 === 2) out.value = text;
      pos = stop;
    }
    return out;
  };
  /** Walks one message of `kind` in [pos, end), noting the location of each external tensor. */
  const walk = (kind: Exclude<Kind, 'entry'>, end: number, depth: number): void => {
    if (depth > 100) throw new Malformed();
    let location: string | undefined;
    let external = false;
    while (pos < end) {
      const tag = varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (wire === 0) {
        const v = varint();
        if (kind === 'tensor' && field === DATA_LOCATION) external = v === EXTERNAL;
      } else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else if (wire === 2) {
        const length = varint(); // read first: it moves `pos`
      const stop = pos + length;
        if (stop > end) throw new Malformed();
        const child = CHILDREN[kind][field];
        if (child === 'entry') {
          const e = entry(stop);
          if (e.key === 'location') location = e.value;
        } else if (child) walk(child, stop, depth + 1);
        // Anything else (weights above all) is skipped by its length, unread.
        pos = stop;
      } else throw new Malformed();
    }
    if (pos !== end) throw new Malformed();
    if (external && location !== undefined) found.add(location);
  };
  try {
    walk('model', model.length, 0);
  } catch (error) {
    if (!(error instanceof Malformed)) throw error;
    throw new OndeviceError('MODEL_INVALID', `${file} is not a valid ONNX model (its protobuf ends mid-field at byte ${pos}). Check that the file is a whole .onnx.`, { details: { ...extra, file } });
  }
  return [...found];
}

/**
 * Refuses a model whose tensors name external data the release does not supply (by the exact name
 * the release gives it), before any runtime sees the model. `extra` goes into the error's details (the
 * runtime's version, which a ban is tied to).
 */
export function checkExternalData(model: Uint8Array, supplied: readonly string[], file: string, extra: Record<string, unknown> = {}): void {
  const missing = externalDataLocations(model, file, extra).filter((location) => !supplied.includes(location));
  if (missing.length === 0) return;
  throw new OndeviceError(
    'MODEL_INVALID',
    `${file} keeps tensor data in ${missing.map((m) => `"${m}"`).join(', ')}, which the release does not supply${supplied.length > 0 ? ` (it supplies ${supplied.map((s) => `"${s}"`).join(', ')})` : ''}. A model may only read the files published with it: publish its external data beside it (ondevice publish does), or re-export it with the weights inside.`,
    { details: { ...extra, file, missing, supplied } },
  );
}

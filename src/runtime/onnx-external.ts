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

/** A protobuf varint's bytes (lengths stay far below 2^53). */
function encodeVarint(value: number): Uint8Array {
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return Uint8Array.from(out);
}

/**
 * `model` with its tensors' external-data locations renamed by `renamed` (a location not in it is
 * kept). Only the messages on the way to a renamed entry are re-encoded (their lengths change); every
 * other byte, weights above all, is copied as it is. `model` itself is not changed.
 */
export function renameExternalData(model: Uint8Array, renamed: ReadonlyMap<string, string>, file = 'the model'): Uint8Array {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
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
  /** A message's bytes as pieces, or `undefined` if nothing in it changed. */
  type Pieces = Uint8Array[] | undefined;
  const size = (pieces: Uint8Array[]) => pieces.reduce((sum, p) => sum + p.length, 0);
  /** A `StringStringEntryProto` in [pos, end), re-encoded if it is a location to rename. */
  const entry = (end: number): Pieces => {
    const start = pos;
    let key: string | undefined;
    let value: string | undefined;
    while (pos < end) {
      const tag = varint();
      if ((tag & 7) !== 2) throw new Malformed();
      const length = varint(); // read first: it moves `pos`
      const stop = pos + length;
      if (stop > end) throw new Malformed();
      if (tag >> 3 === 1) key = decoder.decode(model.subarray(pos, stop));
      else if (tag >> 3 === 2) value = decoder.decode(model.subarray(pos, stop));
      pos = stop;
    }
    const to = key === 'location' && value !== undefined ? renamed.get(value) : undefined;
    if (to === undefined || to === value) return undefined;
    pos = start;
    const pieces: Uint8Array[] = [];
    while (pos < end) {
      const fieldStart = pos;
      const tag = varint();
      const length = varint();
      const stop = pos + length;
      if (tag >> 3 === 2) {
        const text = encoder.encode(to);
        pieces.push(encodeVarint(tag), encodeVarint(text.length), text);
      } else pieces.push(model.subarray(fieldStart, stop));
      pos = stop;
    }
    return pieces;
  };
  const walk = (kind: Exclude<Kind, 'entry'>, end: number, depth: number): Pieces => {
    if (depth > 100) throw new Malformed();
    const pieces: Uint8Array[] = [];
    let copied = pos;
    let changed = false;
    while (pos < end) {
      const fieldStart = pos;
      const tag = varint();
      const wire = tag & 7;
      if (wire === 0) varint();
      else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else if (wire === 2) {
        const length = varint(); // read first: it moves `pos`
        const stop = pos + length;
        if (stop > end) throw new Malformed();
        const child = CHILDREN[kind][Math.floor(tag / 8)];
        const inner = child === 'entry' ? entry(stop) : child ? walk(child, stop, depth + 1) : undefined;
        if (inner) {
          changed = true;
          pieces.push(model.subarray(copied, fieldStart), encodeVarint(tag), encodeVarint(size(inner)), ...inner);
          copied = stop;
        }
        pos = stop;
      } else throw new Malformed();
    }
    if (pos !== end) throw new Malformed();
    if (!changed) return undefined;
    pieces.push(model.subarray(copied, end));
    return pieces;
  };
  let pieces: Pieces;
  try {
    pieces = walk('model', model.length, 0);
  } catch (error) {
    if (!(error instanceof Malformed)) throw error;
    throw new OndeviceError('MODEL_INVALID', `${file} is not a valid ONNX model (its protobuf ends mid-field at byte ${pos}). Check that the file is a whole .onnx.`, { details: { file } });
  }
  if (!pieces) return model;
  const out = new Uint8Array(size(pieces));
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

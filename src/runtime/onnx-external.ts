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

/** A read position in a protobuf's bytes. */
class Cursor {
  pos = 0;
  constructor(private readonly bytes: Uint8Array) {}

  /** A base-128 varint at `pos` (up to 2^53 exactly), moving past it. */
  varint(): number {
    let value = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      if (this.pos >= this.bytes.length) throw new Malformed();
      const byte = this.bytes[this.pos++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    throw new Malformed();
  }

  /** A `StringStringEntryProto` in [pos, end): its key and value, moving to `end`. */
  entry(end: number): { key?: string; value?: string } {
    const out: { key?: string; value?: string } = {};
    while (this.pos < end) {
      const tag = this.varint();
      if ((tag & 7) !== 2) throw new Malformed();
      const length = this.varint(); // read first: it moves `pos`
      const stop = this.pos + length;
      if (stop > end) throw new Malformed();
      const text = decoder.decode(this.bytes.subarray(this.pos, stop));
      if (tag >> 3 === 1) out.key = text;
      else if (tag >> 3 === 2) out.value = text;
      this.pos = stop;
    }
    return out;
  }
}

const decoder = new TextDecoder();

/** The external-data locations of `model`'s tensors, in order of first use. Throws `MODEL_INVALID` for bytes that are not a protobuf. */
export function externalDataLocations(model: Uint8Array, file = 'the model', extra: Record<string, unknown> = {}): string[] {
  const found = new Set<string>();
  const c = new Cursor(model);
  /** Walks one message of `kind` in [pos, end), noting the location of each external tensor. */
  const walk = (kind: Exclude<Kind, 'entry'>, end: number, depth: number): void => {
    if (depth > 100) throw new Malformed();
    let location: string | undefined;
    let external = false;
    while (c.pos < end) {
      const tag = c.varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (wire === 0) {
        const v = c.varint();
        if (kind === 'tensor' && field === DATA_LOCATION) external = v === EXTERNAL;
      } else if (wire === 1) c.pos += 8;
      else if (wire === 5) c.pos += 4;
      else if (wire === 2) {
        const length = c.varint(); // read first: it moves `c.pos`
        const stop = c.pos + length;
        if (stop > end) throw new Malformed();
        const child = CHILDREN[kind][field];
        if (child === 'entry') {
          const e = c.entry(stop);
          if (e.key === 'location') location = e.value;
        } else if (child) walk(child, stop, depth + 1);
        // Anything else (weights above all) is skipped by its length, unread.
        c.pos = stop;
      } else throw new Malformed();
    }
    if (c.pos !== end) throw new Malformed();
    if (external && location !== undefined) found.add(location);
  };
  try {
    walk('model', model.length, 0);
  } catch (error) {
    if (!(error instanceof Malformed)) throw error;
    throw new OndeviceError('MODEL_INVALID', `${file} is not a valid ONNX model (its protobuf ends mid-field at byte ${c.pos}). Check that the file is a whole .onnx.`, { details: { ...extra, file } });
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
  const encoder = new TextEncoder();
  const c = new Cursor(model);
  /** A message's bytes as pieces, or `undefined` if nothing in it changed. */
  type Pieces = Uint8Array[] | undefined;
  const size = (pieces: Uint8Array[]) => pieces.reduce((sum, p) => sum + p.length, 0);
  /** A `StringStringEntryProto` in [pos, end), re-encoded if it is a location to rename. */
  const entry = (end: number): Pieces => {
    const start = c.pos;
    const { key, value } = c.entry(end);
    const to = key === 'location' && value !== undefined ? renamed.get(value) : undefined;
    if (to === undefined || to === value) return undefined;
    c.pos = start;
    const pieces: Uint8Array[] = [];
    while (c.pos < end) {
      const fieldStart = c.pos;
      const tag = c.varint();
      const length = c.varint();
      const stop = c.pos + length;
      if (tag >> 3 === 2) {
        const text = encoder.encode(to);
        pieces.push(encodeVarint(tag), encodeVarint(text.length), text);
      } else pieces.push(model.subarray(fieldStart, stop));
      c.pos = stop;
    }
    return pieces;
  };
  const walk = (kind: Exclude<Kind, 'entry'>, end: number, depth: number): Pieces => {
    if (depth > 100) throw new Malformed();
    const pieces: Uint8Array[] = [];
    let copied = c.pos;
    let changed = false;
    while (c.pos < end) {
      const fieldStart = c.pos;
      const tag = c.varint();
      const wire = tag & 7;
      if (wire === 0) c.varint();
      else if (wire === 1) c.pos += 8;
      else if (wire === 5) c.pos += 4;
      else if (wire === 2) {
        const length = c.varint(); // read first: it moves `c.pos`
        const stop = c.pos + length;
        if (stop > end) throw new Malformed();
        const child = CHILDREN[kind][Math.floor(tag / 8)];
        const inner = child === 'entry' ? entry(stop) : child ? walk(child, stop, depth + 1) : undefined;
        if (inner) {
          changed = true;
          pieces.push(model.subarray(copied, fieldStart), encodeVarint(tag), encodeVarint(size(inner)), ...inner);
          copied = stop;
        }
        c.pos = stop;
      } else throw new Malformed();
    }
    if (c.pos !== end) throw new Malformed();
    if (!changed) return undefined;
    pieces.push(model.subarray(copied, end));
    return pieces;
  };
  let pieces: Pieces;
  try {
    pieces = walk('model', model.length, 0);
  } catch (error) {
    if (!(error instanceof Malformed)) throw error;
    throw new OndeviceError('MODEL_INVALID', `${file} is not a valid ONNX model (its protobuf ends mid-field at byte ${c.pos}). Check that the file is a whole .onnx.`, { details: { file } });
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

/**
 * @file The Open Inference Protocol's JSON (KServe v2 REST) ↔ the library's tensors. Everything a
 * client sends is checked here, before any work: the input's name, datatype, shape and data, each
 * failure a 400 that says what was expected.
 * https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/
 */
import { fromFloat16Bits, toFloat16Bits } from '../tensor/float16.js';
import type { ModelInfo, Tensor, TensorMap, TensorSpec, TensorType } from '../types.js';
import type { BinaryReader } from './binary.js';
import { HttpError } from './http-error.js';

export { HttpError } from './http-error.js';

const bad = (message: string) => new HttpError(400, message);

/** The protocol's datatypes, and the tensor type each becomes (BYTES: strings). */
const TYPES: Record<string, TensorType> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
};
const DATATYPES = Object.fromEntries(Object.entries(TYPES).map(([k, v]) => [v, k])) as Record<TensorType, string>;

/** The protocol's name for a tensor type as a model declares it (`'string'` is BYTES). */
export function datatypeOf(type: string): string {
  return DATATYPES[type as TensorType] ?? (type === 'string' ? 'BYTES' : type.toUpperCase());
}

/** A declared shape as the protocol writes it: a free (named) dimension is -1. */
export function shapeOf(dims: ReadonlyArray<number | string>): number[] {
  return dims.map((d) => (typeof d === 'number' ? d : -1));
}

const RANGES: Partial<Record<TensorType, [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
};

export interface InferRequest {
  id: string | undefined;
  inputs: TensorMap;
  /** The outputs asked for (`undefined`: all). */
  outputs: string[] | undefined;
  /** Outputs to send as raw bytes (the binary data extension), or `'all'`. */
  binary: ReadonlySet<string> | 'all';
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks a parsed `/infer` body against the model's inputs and builds its tensors; `binary` reads the inputs sent as raw bytes. */
export function parseInfer(body: unknown, info: Pick<ModelInfo, 'inputs' | 'outputs'>, limits: { maxBatch: number }, binary?: BinaryReader): InferRequest {
  if (!isRecord(body)) throw bad('The body must be a JSON object: { "inputs": [{ "name", "shape", "datatype", "data" }] }.');
  if (body['id'] !== undefined && typeof body['id'] !== 'string') throw bad('"id" must be a string.');
  const list = body['inputs'];
  if (!Array.isArray(list) || list.length === 0) throw bad('"inputs" must be a non-empty array of { "name", "shape", "datatype", "data" }.');
  const inputs: TensorMap = {};
  for (const [i, raw] of list.entries()) {
    if (!isRecord(raw) || typeof raw['name'] !== 'string') throw bad(`inputs[${i}] must be an object with a string "name".`);
    const name = raw['name'];
    const spec = info.inputs.find((s) => s.name === name);
    if (!spec) throw bad(`Unknown input "${name}": the model's inputs are ${info.inputs.map((s) => `"${s.name}"`).join(', ')}.`);
    if (inputs[name]) throw bad(`Input "${name}" is given twice.`);
    inputs[name] = tensor(raw, spec, limits.maxBatch, binary);
  }
  binary?.finish();
  const missing = info.inputs.filter((s) => !inputs[s.name]).map((s) => `"${s.name}"`);
  if (missing.length > 0) throw bad(`Missing input ${missing.join(', ')}.`);
  const all = isRecord(body['parameters']) && body['parameters']['binary_data_output'] === true;
  const perOutput = Array.isArray(body['outputs']) ? body['outputs'].filter((o) => isRecord(o) && isRecord(o['parameters']) && o['parameters']['binary_data'] === true).map((o) => (o as Record<string, unknown>)['name'] as string) : [];
  return { id: body['id'] as string | undefined, inputs, outputs: requestedOutputs(body['outputs'], info.outputs), binary: all ? 'all' : new Set(perOutput) };
}

function requestedOutputs(raw: unknown, specs: readonly TensorSpec[]): string[] | undefined {
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw)) throw bad('"outputs" must be an array of { "name" }.');
  const names = new Set<string>();
  for (const [i, o] of raw.entries()) {
    const name = isRecord(o) ? o['name'] : undefined;
    if (typeof name !== 'string') throw bad(`outputs[${i}] must be an object with a string "name".`);
    if (!specs.some((s) => s.name === name)) throw bad(`Unknown output "${name}": the model's outputs are ${specs.map((s) => `"${s.name}"`).join(', ')}.`);
    // Each name once: the answer holds one copy of each output (a name listed thousands of times
    // once built thousands of copies of the output).
    if (names.has(name)) throw bad(`Output "${name}" is asked for twice: name each output once.`);
    names.add(name);
  }
  return [...names];
}

function tensor(raw: Record<string, unknown>, spec: TensorSpec, maxBatch: number, binary: BinaryReader | undefined): Tensor {
  const name = spec.name;
  const datatype = raw['datatype'];
  const expected = datatypeOf(spec.type);
  if (typeof datatype !== 'string' || !(datatype in TYPES)) {
    throw bad(`Input "${name}": "datatype" must be one of ${Object.keys(TYPES).join(', ')} (this model takes ${expected}); got ${JSON.stringify(datatype)}.`);
  }
  if (datatype !== expected) throw bad(`Input "${name}" is ${expected}, got ${datatype}.`);
  const type = TYPES[datatype]!;
  const shape = raw['shape'];
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) throw bad(`Input "${name}": "shape" must be an array of non-negative integers.`);
  const dims = shape as number[];
  const declared = spec.dims;
  if (dims.length !== declared.length || declared.some((d, i) => typeof d === 'number' && d !== dims[i])) {
    throw bad(`Input "${name}" has shape [${shapeOf(declared).join(', ')}] (-1: any size), got [${dims.join(', ')}].`);
  }
  // A free dimension sizes the run's memory (every intermediate tensor grows with it): bounded.
  const over = dims.findIndex((d, i) => typeof declared[i] === 'string' && d > maxBatch);
  if (over >= 0) throw new HttpError(413, `Input "${name}": dimension ${over} ("${String(declared[over])}") is ${dims[over]}, over this server's limit (--max-batch ${maxBatch}). Send at most ${maxBatch} at a time.`);
  const count = dims.reduce((a, b) => a * b, 1);
  const size = isRecord(raw['parameters']) ? raw['parameters']['binary_data_size'] : undefined;
  if (size !== undefined) {
    if (!binary) throw bad(`Input "${name}" has "binary_data_size", but the request has no binary part: send the Inference-Header-Content-Length header.`);
    return { type, data: binary.take(name, type, size, count), dims } as Tensor;
  }
  if (!Array.isArray(raw['data'])) throw bad(`Input "${name}": "data" must be an array (flat in row-major order, or nested).`);
  const data = raw['data'] as unknown[];
  // Flat row-major data is the common case: only nested data is flattened, and never deeper than the
  // shape's rank (a hostile body nested a million deep stays an array, refused below as not a number).
  const values = data.some(Array.isArray) ? (data.flat(Math.max(0, dims.length - 1)) as unknown[]) : data;
  if (values.length !== count) throw bad(`Input "${name}": shape [${dims.join(', ')}] needs ${count} values, got ${values.length}.`);
  return { type, data: typed(type, values, name), dims } as Tensor;
}

/** A value a client sent, briefly: never the whole of it (it may be nested thousands deep, or megabytes long). */
function described(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (isRecord(value)) return 'an object';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function typed(type: TensorType, values: unknown[], name: string): Tensor['data'] {
  const wrong = (i: number, what: string) => bad(`Input "${name}": data[${i}] must be ${what}, got ${described(values[i])}.`);
  switch (type) {
    case 'bool':
      return Uint8Array.from(values, (v, i) => {
        if (typeof v !== 'boolean') throw wrong(i, 'true or false');
        return v ? 1 : 0;
      });
    case 'int64':
    case 'uint64': {
      const data = type === 'int64' ? new BigInt64Array(values.length) : new BigUint64Array(values.length);
      values.forEach((v, i) => {
        if (!Number.isSafeInteger(v) || (type === 'uint64' && (v as number) < 0)) throw wrong(i, type === 'uint64' ? 'a non-negative integer' : 'an integer');
        data[i] = BigInt(v as number);
      });
      return data;
    }
    case 'float16':
      return Uint16Array.from(values, (v, i) => {
        if (typeof v !== 'number') throw wrong(i, 'a number');
        return toFloat16Bits(v);
      });
    case 'string':
      return values.map((v, i) => {
        if (typeof v !== 'string') throw wrong(i, 'a string');
        return v;
      });
    case 'float32':
    case 'float64': {
      const data = type === 'float32' ? new Float32Array(values.length) : new Float64Array(values.length);
      values.forEach((v, i) => {
        if (typeof v !== 'number') throw wrong(i, 'a number');
        data[i] = v;
      });
      return data;
    }
    default: {
      const [min, max] = RANGES[type]!;
      const Kind = { int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array }[type];
      const data = new Kind(values.length);
      values.forEach((v, i) => {
        if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) throw wrong(i, `an integer in [${min}, ${max}]`);
        data[i] = v as number;
      });
      return data;
    }
  }
}

/** A tensor's name, datatype and shape, as the protocol writes them. */
export function outputMeta(name: string, t: Tensor): { name: string; datatype: string; shape: number[] } {
  return { name, datatype: DATATYPES[t.type], shape: [...t.dims] };
}

/** A tensor as the protocol sends it: flat row-major data (64-bit integers as numbers; FP16 as numbers). */
export function outputJson(name: string, t: Tensor): { name: string; datatype: string; shape: number[]; data: Array<number | boolean | string> } {
  let data: Array<number | boolean | string>;
  if (t.type === 'string') data = t.data;
  else if (t.type === 'bool') data = Array.from(t.data, (v) => v !== 0);
  else if (t.type === 'float16') data = Array.from(t.data, fromFloat16Bits);
  else if (t.type === 'int64' || t.type === 'uint64') data = Array.from(t.data as BigInt64Array, Number);
  else data = Array.from(t.data as Float32Array);
  return { ...outputMeta(name, t), data };
}

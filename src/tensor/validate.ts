/** @file Input checks before inference: names, element types, ranks and sizes, each failure naming the input. */
import { OndeviceError } from '../errors.js';
import type { TensorSpec, TensorType } from '../types.js';

/** The typed-array class each element type takes (by `Object.prototype.toString` tag, so it works across realms). */
const ARRAY_TAGS: Record<TensorType, readonly string[]> = {
  float32: ['Float32Array'],
  float64: ['Float64Array'],
  float16: ['Uint16Array', 'Float16Array'],
  int8: ['Int8Array'],
  uint8: ['Uint8Array'],
  int16: ['Int16Array'],
  uint16: ['Uint16Array'],
  int32: ['Int32Array'],
  uint32: ['Uint32Array'],
  int64: ['BigInt64Array'],
  uint64: ['BigUint64Array'],
  bool: ['Uint8Array'],
  string: ['Array'],
};

export function isTensorType(value: unknown): value is TensorType {
  return typeof value === 'string' && Object.hasOwn(ARRAY_TAGS, value);
}

function invalid(input: string, problem: string, expected: unknown, actual: unknown): never {
  throw new OndeviceError('INPUT_INVALID', `Input "${input}" ${problem}.`, { details: { input, expected, actual } });
}

function tagOf(value: unknown): string {
  return Object.prototype.toString.call(value).slice(8, -1);
}

/** The names a run may give an input: its own, and its aliases. */
function namesOf(spec: TensorSpec): readonly string[] {
  return [spec.name, ...(spec.aliases ?? [])];
}

/**
 * Throws `INPUT_INVALID` unless `inputs` holds exactly the model's inputs (each under its name or
 * one of its aliases, once), each well formed.
 */
export function validateInputs(inputs: unknown, specs: readonly TensorSpec[]): void {
  if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) {
    throw new OndeviceError('INPUT_INVALID', `run() takes an object of tensors by input name, e.g. { ${specs[0]?.name ?? 'input'}: { type, data, dims } }.`, {
      details: { expected: specs.map((s) => s.name) },
    });
  }
  const names = specs.map((s) => s.name);
  const given = Object.keys(inputs);
  for (const name of given) {
    if (!specs.some((s) => namesOf(s).includes(name))) invalid(name, `is not an input of this model; its inputs are ${names.map((n) => `"${n}"`).join(', ')}`, names, name);
  }
  for (const spec of specs) {
    const under = namesOf(spec).filter((n) => Object.hasOwn(inputs, n));
    if (under.length === 0) invalid(spec.name, `is missing; the model needs ${names.map((n) => `"${n}"`).join(', ')}`, names, given);
    if (under.length > 1) invalid(spec.name, `is given twice, as ${under.map((n) => `"${n}"`).join(' and ')}; give it once`, spec.name, under);
    validateTensor(spec, (inputs as Record<string, unknown>)[under[0]!]);
  }
}

/** The same tensors keyed by each input's own name (after `validateInputs`). */
export function byInputName<T extends Record<string, unknown>>(inputs: T, specs: readonly TensorSpec[]): T {
  if (!specs.some((s) => s.aliases?.length)) return inputs;
  return Object.fromEntries(specs.map((s) => [s.name, inputs[namesOf(s).find((n) => Object.hasOwn(inputs, n))!]!])) as T;
}

function validateTensor(spec: TensorSpec, tensor: unknown): void {
  const name = spec.name;
  if (typeof tensor !== 'object' || tensor === null) invalid(name, 'must be a tensor { type, data, dims }', 'object', typeof tensor);
  const { type, data, dims, kept } = tensor as { type?: unknown; data?: unknown; dims?: unknown; kept?: unknown };
  if (!isTensorType(type)) invalid(name, `has unknown type ${JSON.stringify(type)}; use one of ${Object.keys(ARRAY_TAGS).join(', ')}`, spec.type, type);
  if (isTensorType(spec.type) && type !== spec.type) invalid(name, `must be ${spec.type}, got ${type}`, spec.type, type);
  // A kept output (a TensorRef) has its type and shape here, its data where the model runs.
  if (kept === true) {
    validateShape(spec, dims);
    return;
  }
  const tags = ARRAY_TAGS[type];
  if (!tags.includes(tagOf(data))) invalid(name, `of type ${type} needs its data in a ${tags.join(' or ')}, got ${tagOf(data)}`, tags[0], tagOf(data));
  const shape = validateShape(spec, dims);
  if (type === 'string') {
    const at = (data as unknown[]).findIndex((v) => typeof v !== 'string');
    if (at >= 0) invalid(name, `of type string needs a string at every index; data[${at}] is ${typeof (data as unknown[])[at]}`, 'string', typeof (data as unknown[])[at]);
  }
  const elements = shape.reduce((a, b) => a * b, 1);
  const length = (data as { length: number }).length;
  if (elements !== length) invalid(name, `has ${length} elements in data but dims [${shape.join(', ')}] need ${elements}`, elements, length);
}

/** The tensor's dims against the spec's rank and fixed sizes. */
function validateShape(spec: TensorSpec, dims: unknown): number[] {
  const name = spec.name;
  if (!Array.isArray(dims) || !dims.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    invalid(name, 'needs dims as an array of non-negative integers', spec.dims, dims);
  }
  const shape = dims as number[];
  if (spec.dims.length > 0) {
    if (shape.length !== spec.dims.length) invalid(name, `must have rank ${spec.dims.length} [${spec.dims.join(', ')}], got rank ${shape.length} [${shape.join(', ')}]`, spec.dims, shape);
    spec.dims.forEach((want, i) => {
      if (typeof want === 'number' && shape[i] !== want) invalid(name, `must have dims [${spec.dims.join(', ')}], got [${shape.join(', ')}] (dimension ${i})`, spec.dims, shape);
    });
  }
  return shape;
}

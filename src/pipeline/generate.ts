/**
 * @file `model.generate()`: a greedy decode loop run where the model runs. The options are checked
 * against the model's graphs before anything leaves the caller's thread (`checkGenerate`); the loop
 * (`generateTokens`) then runs every step next to the sessions, feeding the cache from one step's
 * outputs to the next step's inputs without it ever crossing the worker boundary. Each step's token
 * is the argmax of the scores at the last position, the same choice an app's own greedy loop makes.
 */
import { OndeviceError, abortError } from '../errors.js';
import type { KeptValue } from '../runtime/types.js';
import type { GenerateEncoder, GenerateOptions, GraphInfo, Tensor, TensorMap } from '../types.js';
import type { GraphSessions } from './graphs.js';
import { splitInputs, type RefRegistry, type WireTensors } from './refs.js';

/** `generate()`'s options as they cross to the host: checked, defaults filled in, no callbacks. */
export interface WireGenerateOptions {
  graph: string;
  nextGraph: string;
  /** `[input, output]` pairs. */
  feed: ReadonlyArray<readonly [string, string]>;
  tokenOutput: string;
  tokenInput: string;
  tokenType: 'int64' | 'int32';
  maxTokens: number;
  eos: readonly number[];
  attentionMask?: string | undefined;
  /** The graph run once before the first step, its inputs, and `[input, output]` pairs of what it feeds the steps. */
  encoder?: { graph: string; inputs: WireTensors; feed: ReadonlyArray<readonly [string, string]> } | undefined;
  /** Refs the app disposed since its last call (see WireRunOptions.release). */
  release?: readonly number[] | undefined;
}

const quoted = (names: Iterable<string>) => [...names].map((n) => `"${n}"`).join(', ');

function invalid(option: string, message: string, expected?: unknown, actual?: unknown): never {
  throw new OndeviceError('INPUT_INVALID', `generate(): ${message}`, { details: { input: option, ...(expected !== undefined && { expected }), ...(actual !== undefined && { actual }) } });
}

/**
 * The step inputs `options.encoder.feed` names (none without an encoder), read before the first
 * step's inputs are checked, so that those inputs are not required of the call. `INPUT_INVALID` if
 * the call's inputs give one of them too.
 */
export function encoderFed(inputs: unknown, options: unknown): Set<string> {
  const encoder = typeof options === 'object' && options !== null ? (options as GenerateOptions).encoder : undefined;
  if (encoder === undefined) return new Set();
  const fed = new Set(Object.keys(checkEncoderShape(encoder).feed));
  const twice = typeof inputs === 'object' && inputs !== null ? Object.keys(inputs).find((name) => fed.has(name)) : undefined;
  if (twice !== undefined) invalid('encoder.feed', `"${twice}" is given in the inputs and fed from the encoder by option "encoder.feed"; give it one way.`, undefined, twice);
  return fed;
}

/**
 * Checks `options` against the model's graphs and the first step's input names; returns what the
 * host needs (the encoder's inputs aside: the caller adds them as they cross). Throws `INPUT_INVALID`
 * naming the option at fault.
 */
export function checkGenerate(graphs: Readonly<Record<string, GraphInfo>>, given: readonly string[], options: GenerateOptions): Omit<WireGenerateOptions, 'encoder'> & { encoder?: { graph: string; feed: ReadonlyArray<readonly [string, string]> } } {
  if (typeof options !== 'object' || options === null) invalid('options', 'takes options { feed, maxTokens, … } (see GenerateOptions).');
  const names = Object.keys(graphs);
  const graphOf = (option: 'graph' | 'nextGraph', name: unknown): [string, GraphInfo] => {
    if (typeof name !== 'string' || !Object.hasOwn(graphs, name)) invalid(option, `option "${option}": this model has no graph ${JSON.stringify(name)}; its graphs are ${quoted(names)}.`, names, name);
    return [name, graphs[name]!];
  };
  const [graph, first] = graphOf('graph', options.graph ?? names[0]);
  const [nextGraph, next] = graphOf('nextGraph', options.nextGraph ?? graph);
  const nextInputs = next.inputs.map((i) => i.name);
  const bothOutputs = first.outputs.map((o) => o.name).filter((o) => next.outputs.some((n) => n.name === o));
  const isNextInput = (option: string, name: unknown): string => {
    if (typeof name !== 'string' || !nextInputs.includes(name)) invalid(option, `option "${option}" names ${JSON.stringify(name)}, not an input of graph "${nextGraph}"; its inputs are ${quoted(nextInputs)}.`, nextInputs, name);
    return name;
  };
  const isBothOutput = (option: string, name: unknown): string => {
    if (typeof name !== 'string' || !bothOutputs.includes(name)) {
      invalid(option, `option "${option}" names ${JSON.stringify(name)}, which is not an output of both "${graph}" and "${nextGraph}"; the outputs they share are ${quoted(bothOutputs)}.`, bothOutputs, name);
    }
    return name;
  };

  if (typeof options.feed !== 'object' || options.feed === null || Array.isArray(options.feed)) {
    invalid('feed', 'option "feed" takes { input: output } pairs: the later steps\' inputs fed from the last step\'s outputs (the cache).', 'object', typeof options.feed);
  }
  const feed = Object.entries(options.feed).map(([input, output]) => [isNextInput('feed', input), isBothOutput('feed', output)] as const);
  const tokenOutput = isBothOutput('token.output', options.token?.output ?? 'logits');
  const tokenInput = isNextInput('token.input', options.token?.input ?? 'input_ids');
  const tokenType = next.inputs.find((i) => i.name === tokenInput)!.type;
  if (tokenType !== 'int64' && tokenType !== 'int32') invalid('token.input', `the token's input "${tokenInput}" is ${tokenType}; it must be int64 or int32 (token ids).`, ['int64', 'int32'], tokenType);
  if (feed.some(([input]) => input === tokenInput)) invalid('feed', `option "feed" feeds "${tokenInput}", the token's own input.`, undefined, tokenInput);

  const maxTokens = options.maxTokens;
  if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > 2 ** 31 - 1) invalid('maxTokens', `option "maxTokens" must be a positive integer; got ${String(maxTokens)}.`, 'positive integer', maxTokens);
  const eos = options.eos === undefined ? [] : typeof options.eos === 'number' ? [options.eos] : options.eos;
  if (!Array.isArray(eos) || !eos.every((e) => Number.isInteger(e) && e >= 0)) invalid('eos', 'option "eos" takes a token id or an array of them (non-negative integers).', 'token ids', String(options.eos));
  if (options.onToken !== undefined && typeof options.onToken !== 'function') invalid('onToken', 'option "onToken" must be a function.', 'function', typeof options.onToken);

  const attentionMask = options.attentionMask === undefined ? undefined : isNextInput('attentionMask', options.attentionMask);
  if (attentionMask !== undefined && !given.includes(attentionMask)) invalid('attentionMask', `the attention mask "${attentionMask}" must be given to the first step, as a [1, n] tensor.`, undefined, attentionMask);

  const encoder = options.encoder === undefined ? undefined : checkEncoder(graphs, options.encoder, [graph, first], [nextGraph, next], [tokenInput, ...feed.map(([input]) => input), ...(attentionMask === undefined ? [] : [attentionMask])]);
  const sourced = new Set([tokenInput, ...feed.map(([input]) => input), ...given, ...(encoder?.feed.map(([input]) => input) ?? [])]);
  const missing = nextInputs.filter((i) => !sourced.has(i));
  if (missing.length > 0) {
    invalid('feed', `graph "${nextGraph}" needs ${quoted(missing)} at every step after the first: give ${missing.length > 1 ? 'them' : 'it'} in the inputs (kept as they are), or name ${missing.length > 1 ? 'them' : 'it'} in "feed".`, missing);
  }
  return { graph, nextGraph, feed, tokenOutput, tokenInput, tokenType, maxTokens, eos, attentionMask, ...(encoder && { encoder }) };
}

/** `options.encoder` is an object with `inputs` and a non-empty `feed` object. */
function checkEncoderShape(encoder: unknown): GenerateEncoder {
  if (typeof encoder !== 'object' || encoder === null) invalid('encoder', 'option "encoder" takes { graph, inputs, feed } (see GenerateEncoder).', 'object', typeof encoder);
  const { inputs, feed } = encoder as GenerateEncoder;
  if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) invalid('encoder.inputs', 'option "encoder.inputs" takes the encoder\'s inputs by name, as run() does.', 'object', typeof inputs);
  if (typeof feed !== 'object' || feed === null || Array.isArray(feed) || Object.keys(feed).length === 0) {
    invalid('encoder.feed', 'option "encoder.feed" takes { input: output } pairs: the steps\' inputs given the encoder\'s outputs, e.g. { encoder_hidden_states: "last_hidden_state" }.', 'object', typeof feed);
  }
  return encoder as GenerateEncoder;
}

/** `options.encoder` checked: a graph of the model, and `{ input: output }` from its outputs to inputs the steps take and nothing else fills. */
function checkEncoder(
  graphs: Readonly<Record<string, GraphInfo>>,
  given: unknown,
  [graph, first]: [string, GraphInfo],
  [nextGraph, next]: [string, GraphInfo],
  taken: readonly string[],
): { graph: string; feed: ReadonlyArray<readonly [string, string]> } {
  const encoder = checkEncoderShape(given);
  const names = Object.keys(graphs);
  if (typeof encoder.graph !== 'string' || !Object.hasOwn(graphs, encoder.graph)) invalid('encoder.graph', `option "encoder.graph": this model has no graph ${JSON.stringify(encoder.graph)}; its graphs are ${quoted(names)}.`, names, encoder.graph);
  const outputs = graphs[encoder.graph]!.outputs.map((o) => o.name);
  const stepInputs = [...new Set([...first.inputs, ...next.inputs].map((i) => i.name))];
  const feed = Object.entries(encoder.feed).map(([input, output]) => {
    if (!stepInputs.includes(input)) invalid('encoder.feed', `option "encoder.feed" names ${JSON.stringify(input)}, not an input of graph "${graph}" or "${nextGraph}"; their inputs are ${quoted(stepInputs)}.`, stepInputs, input);
    if (taken.includes(input)) invalid('encoder.feed', `option "encoder.feed" names "${input}", which the loop already fills (the token, "feed", or the attention mask).`, undefined, input);
    if (typeof output !== 'string' || !outputs.includes(output)) invalid('encoder.feed', `option "encoder.feed" maps "${input}" to ${JSON.stringify(output)}, not an output of graph "${encoder.graph}"; its outputs are ${quoted(outputs)}.`, outputs, output);
    return [input, output] as const;
  });
  return { graph: encoder.graph, feed };
}

/** The index of the highest score at the last position of `scores` (its last dimension is the vocabulary). */
export function argmaxLast(scores: Tensor): number {
  const vocab = scores.dims[scores.dims.length - 1] ?? 0;
  const data = scores.data;
  if (vocab < 1 || typeof data[0] !== 'number' || data.length < vocab) {
    throw new OndeviceError('RUN_FAILED', `generate(): the scores (type ${scores.type}, dims [${scores.dims.join(', ')}]) have no last position to choose a token from.`);
  }
  const value = scores.type === 'float16' ? halfToFloat : (x: number) => x;
  const start = data.length - vocab;
  let best = 0;
  let top = value(data[start] as number);
  for (let j = 1; j < vocab; j++) {
    const v = value(data[start + j] as number);
    // NaN never wins; ties keep the lowest id, as an argmax does.
    if (v > top) [best, top] = [j, v];
  }
  return best;
}

function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

function tokenTensor(token: number, type: 'int64' | 'int32'): Tensor {
  return type === 'int64' ? { type, data: BigInt64Array.of(BigInt(token)), dims: [1, 1] } : { type, data: Int32Array.of(token), dims: [1, 1] };
}

/** `mask` one position longer, the new position 1. */
function grown(mask: Tensor): Tensor {
  const n = mask.data.length;
  if (mask.type === 'int64') {
    const data = new BigInt64Array(n + 1);
    data.set(mask.data);
    data[n] = 1n;
    return { type: 'int64', data, dims: [1, n + 1] };
  }
  if (mask.type === 'int32' || mask.type === 'float32' || mask.type === 'uint8' || mask.type === 'bool') {
    const data = new (mask.data.constructor as Int32ArrayConstructor)(n + 1);
    data.set(mask.data as Int32Array);
    data[n] = 1;
    return { ...mask, data, dims: [1, n + 1] } as Tensor;
  }
  throw new OndeviceError('INPUT_INVALID', `generate(): the attention mask is ${mask.type}; give it as int64, int32, float32 or bool.`, { details: { input: 'attentionMask', actual: mask.type } });
}

/** How long the loop may hold the thread before it lets other work in (other calls, an abort message). */
const HOLD_MS = 8;

/**
 * Resolves on a later turn of the event loop. A WASM step runs through promises alone, so a loop of
 * them never lets a message in (a worker would hear its abort only once the loop ended). The channel
 * is made on the first yield (most short loops never yield) and closed with `done()`.
 */
function macrotasks(): { later(): Promise<void>; done(): void } {
  if (typeof setImmediate === 'function') return { later: () => new Promise((resolve) => setImmediate(resolve)), done: () => undefined };
  let channel: MessageChannel | undefined;
  const waiting: Array<() => void> = [];
  return {
    later: () =>
      new Promise((resolve) => {
        if (!channel) {
          channel = new MessageChannel();
          channel.port1.onmessage = () => waiting.shift()?.();
        }
        waiting.push(resolve);
        channel.port2.postMessage(null);
      }),
    done: () => {
      channel?.port1.close();
      channel?.port2.close();
    },
  };
}

export interface GenerateControls {
  onToken?: ((token: number, index: number) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** Told of each step's duration (the host's stats count each step as a run). */
  onStep?: (ms: number) => void;
  /** Why the loop must stop before its next step (the model was disposed or reloaded), if it must. */
  ended?: () => OndeviceError | undefined;
}

/**
 * Runs the loop on `sessions`. Refs among `inputs` are the app's and stay registered; the values
 * each step keeps are the loop's own, freed as soon as the next step has consumed them, and on any
 * way out (end, error, abort).
 */
export async function generateTokens(sessions: GraphSessions, refs: RefRegistry, runtime: string, inputs: WireTensors, options: WireGenerateOptions, controls: GenerateControls = {}): Promise<number[]> {
  const first = sessions.graphs.get(options.graph);
  const next = sessions.graphs.get(options.nextGraph);
  if (!first || !next) invalid('graph', `this model has no graph "${!first ? options.graph : options.nextGraph}".`);
  if (!first.runKeeping || !next.runKeeping) {
    invalid('graph', `generate() keeps the cache where the model runs, which needs an ONNX model; this ${runtime} model returns every output with its data. Run it step by step with run().`, 'onnx', runtime);
  }
  const encoder = options.encoder && sessions.graphs.get(options.encoder.graph);
  if (options.encoder && !encoder?.runKeeping) invalid('encoder.graph', `this model has no ONNX graph "${options.encoder.graph}".`);
  const given = splitInputs(inputs, refs);
  const encoderInputs = options.encoder && splitInputs(options.encoder.inputs, refs);
  const fedInputs = new Set(options.feed.map(([input]) => input));
  const nextNames = new Set(next.inputs.map((i) => i.name));
  // What every later step is given as it was given to the first: inputs of the step graph not fed,
  // not the token and not the mask.
  const constant = (name: string) => nextNames.has(name) && !fedInputs.has(name) && name !== options.tokenInput && name !== options.attentionMask;
  const constTensors = Object.fromEntries(Object.entries(given.tensors).filter(([name]) => constant(name)));
  const constKept: Record<string, KeptValue> = Object.fromEntries(Object.entries(given.kept).filter(([name]) => constant(name)));
  const keep = [...new Set(options.feed.map(([, output]) => output))];
  const eos = new Set(options.eos);
  let mask = options.attentionMask === undefined ? undefined : given.tensors[options.attentionMask];

  let session = first;
  let tensors: TensorMap = given.tensors;
  let kept: Record<string, KeptValue> = given.kept;
  /** The cache the last step kept: the loop's own, freed once the next step has read it. */
  let own: Record<string, KeptValue> = {};
  /** What the encoder kept for the steps: the loop's own, freed when it ends. */
  let encoded: Record<string, KeptValue> = {};
  const tokens: number[] = [];
  // With a signal, every step lets its abort in; without one, the loop yields now and then.
  const yielding = macrotasks();
  let held = performance.now();
  try {
    if (encoder && encoderInputs) {
      const started = performance.now();
      const result = await encoder.runKeeping!(encoderInputs.tensors, encoderInputs.kept, [...new Set(options.encoder!.feed.map(([, output]) => output))]);
      controls.onStep?.(performance.now() - started);
      encoded = result.kept;
      const firstNames = new Set(first.inputs.map((i) => i.name));
      for (const [input, output] of options.encoder!.feed) {
        if (firstNames.has(input)) kept = { ...kept, [input]: encoded[output]! };
        if (constant(input)) constKept[input] = encoded[output]!;
      }
    }
    for (;;) {
      // Every HOLD_MS, not every step: a turn of the event loop costs a message round trip (tens of
      // microseconds in a worker, a few per cent of a small decoder's step), and an abort is heard
      // within HOLD_MS and a step all the same.
      if (performance.now() - held > HOLD_MS) {
        await yielding.later();
        held = performance.now();
      }
      if (controls.signal?.aborted) throw abortError(controls.signal, 'The generate() call');
      const ended = controls.ended?.();
      if (ended) throw ended;
      const started = performance.now();
      const result = await session.runKeeping!(tensors, kept, keep);
      controls.onStep?.(performance.now() - started);
      for (const value of Object.values(own)) value.dispose();
      own = result.kept;
      const scores = result.outputs[options.tokenOutput];
      if (!scores) throw new OndeviceError('RUN_FAILED', `generate(): graph "${session === first ? options.graph : options.nextGraph}" returned no "${options.tokenOutput}".`);
      const token = argmaxLast(scores);
      if (eos.has(token)) break;
      tokens.push(token);
      try {
        controls.onToken?.(token, tokens.length - 1);
      } catch {
        // The app's listener threw: its bug, not the loop's.
      }
      if (tokens.length >= options.maxTokens) break;
      if (mask) mask = grown(mask);
      tensors = { ...constTensors, [options.tokenInput]: tokenTensor(token, options.tokenType), ...(mask && { [options.attentionMask!]: mask }) };
      kept = { ...constKept, ...Object.fromEntries(options.feed.map(([input, output]) => [input, own[output]!])) };
      session = next;
    }
  } finally {
    yielding.done();
    for (const value of [...Object.values(own), ...Object.values(encoded)]) value.dispose();
  }
  return tokens;
}

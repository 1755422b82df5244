/**
 * @file One onnxruntime run (web or node: both speak onnxruntime-common's types): our tensors in,
 * ORT's out as ours; and the kept form, where chosen outputs stay ORT tensors (on the GPU when the
 * session put them there) to be fed back to a later run without crossing to the caller.
 */
import type * as OrtModule from 'onnxruntime-web';
import { OndeviceError } from '../errors.js';
import type { Tensor, TensorMap, TensorType } from '../types.js';
import type { KeepingResult, KeptValue } from './types.js';

type OrtTensor = OrtModule.Tensor;
type OrtLike = { Tensor: typeof OrtModule.Tensor };
type SessionLike = Pick<OrtModule.InferenceSession, 'run'>;

/** Runs a call into the runtime in turn with its others (see onnx.ts); identity where calls may overlap. */
export type Serialize = <T>(call: () => Promise<T>) => Promise<T>;
const direct: Serialize = (call) => call();

/** A kept output: the ORT tensor itself, known only to the session side. */
class OrtKept implements KeptValue {
  readonly type: TensorType;
  readonly dims: readonly number[];
  readonly location: 'cpu' | 'gpu-buffer';
  #tensor: OrtTensor;
  #serialize: Serialize;

  constructor(tensor: OrtTensor, serialize: Serialize) {
    this.#tensor = tensor;
    this.#serialize = serialize;
    this.type = tensor.type as TensorType;
    this.dims = [...tensor.dims];
    this.location = tensor.location === 'gpu-buffer' ? 'gpu-buffer' : 'cpu';
  }

  get tensor(): OrtTensor {
    return this.#tensor;
  }

  async read(): Promise<Tensor> {
    // A GPU tensor is downloaded (and then lives on the CPU); the copy leaves the kept data intact
    // when the caller's buffer is transferred away.
    const data = this.#tensor.location === 'gpu-buffer' ? await this.#serialize(() => this.#tensor.getData()) : this.#tensor.data;
    return { type: this.type, data: (Array.isArray(data) ? [...data] : (data as Float32Array).slice()) as never, dims: this.dims };
  }

  dispose(): void {
    // A CPU tensor's data is a JavaScript array: dropping it touches no runtime state, so it need
    // not wait its turn behind the runtime's calls (a decode loop frees its whole cache every step).
    if (this.#tensor.location === 'cpu' || this.#tensor.location === 'cpu-pinned') return this.#tensor.dispose();
    void this.#serialize(async () => this.#tensor.dispose()).catch(() => undefined);
  }
}

function feedsOf(ort: OrtLike, inputs: TensorMap): Record<string, OrtTensor> {
  const feeds: Record<string, OrtTensor> = {};
  for (const [name, t] of Object.entries(inputs)) feeds[name] = new ort.Tensor(t.type, t.data as OrtModule.Tensor.DataType, t.dims);
  return feeds;
}

/** An output's data: a GPU output (a session that keeps outputs on the device) is downloaded and its buffer freed. */
async function dataOf(value: OrtTensor): Promise<Tensor> {
  const data = value.location === 'gpu-buffer' ? await value.getData(true) : value.data;
  return { type: value.type, data, dims: value.dims } as Tensor;
}

async function runSession(session: SessionLike, feeds: Record<string, OrtTensor>, runtime: string): Promise<OrtModule.InferenceSession.OnnxValueMapType> {
  try {
    return await session.run(feeds);
  } catch (error) {
    throw new OndeviceError('RUN_FAILED', `Inference failed in ${runtime}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

export async function runOrt(ort: OrtLike, session: SessionLike, inputs: TensorMap, runtime: string): Promise<TensorMap> {
  const results = await runSession(session, feedsOf(ort, inputs), runtime);
  const outputs: TensorMap = {};
  for (const [name, value] of Object.entries(results)) outputs[name] = await dataOf(value as OrtTensor);
  return outputs;
}

/** A run fed with kept values too, keeping the outputs `keep` names (`true`: all) as ORT tensors. */
export async function runOrtKeeping(ort: OrtLike, session: SessionLike, inputs: TensorMap, kept: Readonly<Record<string, KeptValue>>, keep: true | readonly string[], runtime: string, serialize: Serialize = direct): Promise<KeepingResult> {
  const feeds = feedsOf(ort, inputs);
  for (const [name, value] of Object.entries(kept)) {
    // The host's registry hands over only values this runtime made.
    if (!(value instanceof OrtKept)) throw new OndeviceError('INPUT_INVALID', `Input "${name}" is a kept output of another runtime.`, { details: { input: name } });
    feeds[name] = value.tensor;
  }
  const results = await runSession(session, feeds, runtime);
  const outputs: TensorMap = {};
  const keptOut: Record<string, KeptValue> = {};
  for (const [name, value] of Object.entries(results)) {
    if (keep === true || keep.includes(name)) keptOut[name] = new OrtKept(value as OrtTensor, serialize);
    else outputs[name] = await dataOf(value as OrtTensor);
  }
  return { outputs, kept: keptOut };
}

/**
 * @file One TF.js model as a runtime session: `{ type, data, dims }` tensors in and out by the model's
 * own input and output names. Every tensor a run makes is disposed: inputs and intermediates inside
 * `tidy`, outputs once their data is read, so `tf.memory().numTensors` does not grow.
 */
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { Tensor as TfTensor } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { OndeviceError } from '../../errors.js';
import type { Backend, Tensor, TensorMap, TensorSpec } from '../../types.js';
import type { RuntimeSession } from '../types.js';
import { message, withBackend, type TfCore } from './engine.js';

export type TfjsModel = { kind: 'layers'; model: LayersModel } | { kind: 'graph'; model: GraphModel };

/** The element types TF.js tensors hold, as this library names them. */
const TYPES: Record<string, Tensor['type']> = { float32: 'float32', int32: 'int32', bool: 'bool' };

function spec(name: string, dtype: string | undefined, shape: readonly (number | null)[] | undefined): TensorSpec {
  // TF.js marks a free dimension with null (layers) or -1 (graph); the first is the batch.
  const dims = (shape ?? []).map((d, i) => (d === null || d < 0 ? (i === 0 ? 'batch' : `d${i}`) : d));
  return { name, type: TYPES[dtype ?? 'float32'] ?? 'unknown', dims };
}

function specsOf(loaded: TfjsModel): { inputs: TensorSpec[]; outputs: TensorSpec[] } {
  if (loaded.kind === 'layers') {
    const { model } = loaded;
    return {
      inputs: model.inputs.map((t, i) => spec(model.inputNames[i] ?? t.name, t.dtype, t.shape)),
      outputs: model.outputs.map((t, i) => spec(model.outputNames[i] ?? t.name, t.dtype, t.shape)),
    };
  }
  const { model } = loaded;
  // Graph outputs rarely carry a shape or a dtype of their own; the model's signature, when it has one, does.
  const signed = (model.modelSignature as { outputs?: Record<string, SignatureTensor> } | undefined)?.outputs ?? {};
  const signature = (name: string) => signed[name] ?? Object.values(signed).find((t) => t.name === `${name}:0`);
  // model.json's signature names inputs by key and by tensor name (`image:0`); runs accept both.
  const signedInputs = (model.modelSignature as { inputs?: Record<string, SignatureTensor> } | undefined)?.inputs ?? {};
  const aliases = (name: string) => {
    const fromSignature = Object.entries(signedInputs).filter(([key, t]) => key === name || t.name === name || t.name === `${name}:0`).flatMap(([key, t]) => [key, t.name ?? key]);
    return [...new Set([...fromSignature, `${name}:0`])].filter((a) => a !== name);
  };
  return {
    inputs: model.inputs.map((t) => ({ ...spec(t.name, t.dtype, t.shape), aliases: aliases(t.name) })),
    outputs: model.outputs.map((t) => {
      const entry = signature(t.name);
      const dtype = entry?.dtype ? SIGNATURE_TYPES[entry.dtype] : undefined;
      return spec(t.name, dtype ?? t.dtype, t.shape ?? entry?.tensorShape?.dim?.map((d) => Number(d.size ?? -1)));
    }),
  };
}

/** TensorFlow's dtype names, as a graph model's signature writes them. */
const SIGNATURE_TYPES: Record<string, string> = { DT_FLOAT: 'float32', DT_INT32: 'int32', DT_BOOL: 'bool' };

interface SignatureTensor {
  name?: string;
  dtype?: string;
  tensorShape?: { dim?: { size?: string | number }[] };
}

export class TfjsSession implements RuntimeSession {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  #loaded: TfjsModel;
  #backend: Backend;
  /** A graph with control flow (or other dynamic ops) must run through `executeAsync`. */
  #async = false;

  constructor(loaded: TfjsModel, backend: Backend) {
    this.#loaded = loaded;
    this.#backend = backend;
    ({ inputs: this.inputs, outputs: this.outputs } = specsOf(loaded));
  }

  async run(inputs: TensorMap): Promise<TensorMap> {
    const produced = await withBackend(this.#backend, (tf) => this.#predict(tf, inputs));
    // Read outside the queue, so one run's download from the GPU overlaps the next run's dispatch.
    const outputs: TensorMap = {};
    try {
      await Promise.all(
        this.outputs.map(async (o, i) => {
          const t = produced[i]!;
          outputs[o.name] = { type: TYPES[t.dtype] ?? 'float32', data: await t.data(), dims: [...t.shape] } as Tensor;
        }),
      );
    } catch (error) {
      throw new OndeviceError('RUN_FAILED', `Reading the outputs from TF.js's ${this.#backend} backend failed: ${message(error)}`, { cause: error });
    } finally {
      for (const t of produced) t.dispose();
    }
    return outputs;
  }

  async #predict(tf: TfCore, inputs: TensorMap): Promise<TfTensor[]> {
    const loaded = this.#loaded;
    const toTensors = () => this.inputs.map((s) => {
      const t = inputs[s.name]!;
      return tf.tensor(t.data as Float32Array, [...t.dims], t.type as 'float32');
    });
    try {
      if (loaded.kind === 'graph' && this.#async) {
        const feeds = toTensors();
        try {
          return asArray(await loaded.model.executeAsync(named(this.inputs, feeds), this.outputs.map((o) => o.name)));
        } finally {
          tf.dispose(feeds);
        }
      }
      // tidy disposes the input tensors and every intermediate; only the returned outputs survive.
      return tf.tidy(() => {
        const feeds = toTensors();
        if (loaded.kind === 'layers') return asArray(loaded.model.predict(feeds.length === 1 ? feeds[0]! : feeds));
        return asArray(loaded.model.execute(named(this.inputs, feeds), this.outputs.map((o) => o.name)));
      });
    } catch (error) {
      if (loaded.kind === 'graph' && !this.#async && /executeAsync/.test(message(error))) {
        this.#async = true;
        return this.#predict(tf, inputs);
      }
      throw new OndeviceError('RUN_FAILED', `Inference failed in TF.js on ${this.#backend}: ${message(error)}`, { cause: error });
    }
  }

  /** One run on zeros (batch 1), when every other dimension is known: compiles shaders now, not in the app's first run. */
  async warmUp(): Promise<void> {
    if (this.inputs.some((s) => s.dims.length === 0 || s.dims.slice(1).some((d) => typeof d !== 'number') || s.type === 'unknown')) return;
    const zeros: TensorMap = {};
    for (const s of this.inputs) {
      const dims = s.dims.map((d) => (typeof d === 'number' ? d : 1));
      const size = dims.reduce((a, b) => a * b, 1);
      const data = s.type === 'int32' ? new Int32Array(size) : s.type === 'bool' ? new Uint8Array(size) : new Float32Array(size);
      zeros[s.name] = { type: s.type, data, dims } as Tensor;
    }
    await this.run(zeros);
  }

  async release(): Promise<void> {
    // Queued behind runs in flight, so no run meets a disposed model.
    await withBackend(this.#backend, () => this.#loaded.model.dispose()).catch(() => undefined);
  }
}

function named(specs: readonly TensorSpec[], tensors: readonly TfTensor[]): Record<string, TfTensor> {
  return Object.fromEntries(specs.map((s, i) => [s.name, tensors[i]!]));
}

function asArray(result: TfTensor | TfTensor[] | Record<string, TfTensor>): TfTensor[] {
  return Array.isArray(result) ? result : 'dataId' in result ? [result as TfTensor] : Object.values(result);
}

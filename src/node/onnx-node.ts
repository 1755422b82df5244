/**
 * @file The onnxruntime-node adapter: the same RuntimeAdapter as onnxruntime-web's, on the execution
 * providers this machine has. onnxruntime-node is an optional peer dependency, imported on first use.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as OrtModule from 'onnxruntime-node';
import { BackendSkipped } from '../backend/select.js';
import { OndeviceError } from '../errors.js';
import { checkExternalData } from '../runtime/onnx-external.js';
import { specs } from '../runtime/onnx.js';
import { runOrt, runOrtKeeping } from '../runtime/onnx-run.js';
import type { KeepingResult, KeptValue, ModelFileBytes, RuntimeAdapter, RuntimeSession } from '../runtime/types.js';
import type { Backend, OnnxOptions, TensorMap, TensorSpec } from '../types.js';

type Ort = typeof OrtModule;

/** `'auto'`, per platform: the accelerator onnxruntime-node ships there first, then the CPU. */
export function nodeBackends(platform: NodeJS.Platform = process.platform): readonly Backend[] {
  if (platform === 'darwin') return ['coreml', 'cpu'];
  if (platform === 'win32') return ['dml', 'cuda', 'cpu'];
  return ['cuda', 'cpu'];
}

const INSTALL_HINT = 'npm install onnxruntime-node';

let ortModule: Promise<Ort> | undefined;

/** Imports onnxruntime-node once; a failed import is tried again by the next load (it may be installed since). */
function loadOrt(): Promise<Ort> {
  ortModule ??= import('onnxruntime-node')
    .then((m) => ((m as unknown as { default?: Ort }).default ?? m) as Ort)
    .catch((error: unknown) => {
      ortModule = undefined;
      throw error;
    });
  return ortModule;
}

/** ORT status codes that say the bytes themselves are not a usable model, whatever the provider. */
/**
 * What says the model itself cannot run on this runtime, whatever the device: bytes that are not a
 * model, a graph it rejects, an op or type it does not implement (training ops, bfloat16 arithmetic).
 */
const MODEL_ERROR = /ERROR_CODE: (2|4|7|9|10)|INVALID_PROTOBUF|INVALID_GRAPH|NOT_IMPLEMENTED|Protobuf parsing failed|NO_MODEL|Load model from buffer failed|Could not find an implementation|is not a registered function\/op|Type Error|Unsupported data type|are not supported\. If you need support/i;

/** The session options for a create: the app's typed settings in onnxruntime-node's terms. */
export function nodeSessionOptions(backend: Backend, onnx: OnnxOptions = {}, external: readonly ModelFileBytes[] = []): OrtModule.InferenceSession.SessionOptions {
  return {
    executionProviders: [backend],
    graphOptimizationLevel: onnx.graphOptimizationLevel ?? 'all',
    logSeverityLevel: 3,
    intraOpNumThreads: 1,
    // The Node binding takes session config entries with their dotted names, values as strings.
    extra: { 'session.intra_op.allow_spinning': '0', ...(onnx.disablePrepacking && { 'session.disable_prepacking': '1' }) },
    ...(external.length > 0 && { externalData: external.map((f) => ({ path: f.path, data: f.bytes })) }),
  } as OrtModule.InferenceSession.SessionOptions;
}

export const onnxNodeRuntime: RuntimeAdapter = {
  backends: nodeBackends(),
  unsupported: (backend) => `onnxruntime-node has no '${backend}' execution provider: use 'cpu'${backend === 'webgpu' || backend === 'wasm' ? " (or the browser entry 'ondevice')" : ''}`,
  prepare() {
    loadOrt().catch(() => undefined);
  },
  async probe(backend) {
    let ort: Ort;
    try {
      ort = await loadOrt();
    } catch {
      // Reported by create(), with the install command.
      return { ok: true, features: new Set() };
    }
    const missing = providerMissing(ort, backend);
    return missing ? { ok: false, reason: missing } : { ok: true, features: new Set() };
  },
  async create(files, backend, options) {
    if (!['cpu', 'cuda', 'dml', 'coreml'].includes(backend)) throw new BackendSkipped('unavailable', this.unsupported(backend));
    let ort: Ort;
    try {
      ort = await loadOrt();
    } catch (error) {
      throw new BackendSkipped('unavailable', `onnxruntime-node is not installed (it is an optional peer dependency of ondevice/node): run \`${INSTALL_HINT}\` (${message(error)})`);
    }
    const missing = providerMissing(ort, backend);
    if (missing) throw new BackendSkipped('unavailable', missing);
    const [model, ...external] = files;
    if (!model) throw new OndeviceError('MODEL_INVALID', 'The model has no files.');
    // Only the files the release supplies: a tensor naming any other would be read from elsewhere.
    checkExternalData(model.bytes, external.map((f) => f.path), model.path, { backend, runtimeVersion: runtimeVersion(ort) });
    let session: OrtModule.InferenceSession;
    try {
      session = await ort.InferenceSession.create(model.bytes, nodeSessionOptions(backend, options?.onnx, external));
    } catch (error) {
      const text = message(error);
      if (MODEL_ERROR.test(text)) {
        throw new OndeviceError('MODEL_INVALID', `onnxruntime-node cannot load this model: ${text}. It needs an op or a type this runtime does not implement, or its bytes are not a valid ONNX model: re-export it for this runtime (another opset, float32 instead of bfloat16, no training ops).`, { details: { backend, runtimeMessage: text, runtimeVersion: runtimeVersion(ort) }, cause: error });
      }
      throw new BackendSkipped('failed', `creating the session failed: ${text}`);
    }
    return new NodeSession(ort, session);
  },
};

class NodeSession implements RuntimeSession {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  #ort: Ort;
  #session: OrtModule.InferenceSession;
  /** Runs in flight; `release()` waits for them (a hot swap ends the old session under its last requests). */
  #running = new Set<Promise<unknown>>();

  readonly runtimeVersion: string;

  constructor(ort: Ort, session: OrtModule.InferenceSession) {
    this.#ort = ort;
    this.runtimeVersion = runtimeVersion(ort);
    this.#session = session;
    this.inputs = specs(session.inputNames, session.inputMetadata);
    this.outputs = specs(session.outputNames, session.outputMetadata);
  }

  run(inputs: TensorMap): Promise<TensorMap> {
    const result = this.#runNow(inputs);
    this.#running.add(result);
    void result.catch(() => undefined).finally(() => this.#running.delete(result));
    return result;
  }

  /** Not queued as onnxruntime-web's are: runs scheduled together execute back to back in one turn of the event loop (a queue cost serve a quarter of its throughput). */
  #runNow(inputs: TensorMap): Promise<TensorMap> {
    return runOrt(this.#ort as unknown as Parameters<typeof runOrt>[0], this.#session as unknown as Parameters<typeof runOrt>[1], inputs, 'onnxruntime-node');
  }

  runKeeping(inputs: TensorMap, kept: Readonly<Record<string, KeptValue>>, keep: true | readonly string[]): Promise<KeepingResult> {
    const result = runOrtKeeping(this.#ort as unknown as Parameters<typeof runOrtKeeping>[0], this.#session as unknown as Parameters<typeof runOrtKeeping>[1], inputs, kept, keep, 'onnxruntime-node');
    this.#running.add(result);
    void result.catch(() => undefined).finally(() => this.#running.delete(result));
    return result;
  }

  async release(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
    await this.#session.release();
  }
}

/** Which providers this install has: listed by the binding, and (where not bundled) their library present. */
function providerMissing(ort: Ort, backend: Backend): string | undefined {
  const listed = ort.listSupportedBackends?.() ?? [{ name: 'cpu', bundled: true }];
  const entry = listed.find((b) => b.name === backend);
  if (!entry) return `this onnxruntime-node build has no ${backend} execution provider (it has ${listed.map((b) => b.name).join(', ')})`;
  if (entry.bundled || backend !== 'cuda') return undefined;
  // The CUDA provider is a separate library that onnxruntime-node's installer fetches only when asked
  // (ONNXRUNTIME_NODE_INSTALL=cuda12); without it ORT logs an error on every attempt, so do not attempt.
  let binding: string;
  try {
    binding = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return undefined;
  }
  const library = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  return existsSync(join(binding, library)) ? undefined : `onnxruntime-node's CUDA provider is not installed here (${library} is missing; it needs an NVIDIA GPU with CUDA 12, and installing onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12)`;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `onnxruntime-node <version>`, for bans tied to the runtime (see update/from-cache.ts). */
function runtimeVersion(ort: Ort): string {
  return `onnxruntime-node ${ort.env.versions?.node ?? ort.env.versions?.common ?? 'unknown'}`;
}

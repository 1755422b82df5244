/**
 * @file The TF.js adapter for `tfjs-layers` and `tfjs-graph` manifests: model.json and its shards
 * (verified bytes, see artifacts.ts) → a layers or graph model on exactly the backend asked for,
 * warmed up once so that shader compilation happens while loading, not in the first `run()`.
 */
import type * as TfConverter from '@tensorflow/tfjs-converter';
import type * as TfLayers from '@tensorflow/tfjs-layers';
import type { io } from '@tensorflow/tfjs-core';
import { OndeviceError } from '../../errors.js';
import { BackendSkipped } from '../../backend/select.js';
import { probeBackend } from '../../backend/detect.js';
import type { Backend } from '../../types.js';
import type { RuntimeAdapter } from '../types.js';
import { readArtifacts, type TfjsArtifacts } from './artifacts.js';
import { message, withBackend } from './engine.js';
import { TfjsSession, type TfjsModel } from './session.js';

export type TfjsKind = 'layers' | 'graph';

/** `'auto'` for TF.js: WebGPU (a real adapter), WebGL, WebAssembly, then plain JavaScript. */
const TFJS_BACKENDS: readonly Backend[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

function handler(artifacts: TfjsArtifacts) {
  const { format, modelTopology, weightSpecs, weightData, extra } = artifacts;
  // An in-memory IOHandler: TF.js reads exactly these bytes and fetches nothing.
  return { load: async () => ({ ...extra, format, modelTopology, weightSpecs, weightData }) as io.ModelArtifacts };
}

async function loadModel(kind: TfjsKind, artifacts: TfjsArtifacts): Promise<TfjsModel> {
  try {
    if (kind === 'layers') {
      const layers: typeof TfLayers = await import('@tensorflow/tfjs-layers');
      return { kind, model: await layers.loadLayersModel(handler(artifacts)) };
    }
    const converter: typeof TfConverter = await import('@tensorflow/tfjs-converter');
    return { kind, model: await converter.loadGraphModel(handler(artifacts)) };
  } catch (error) {
    if (error instanceof OndeviceError) throw error;
    throw new OndeviceError('MODEL_INVALID', `TF.js cannot load this ${kind} model: ${message(error)}. Check that model.json and its shards come from one TF.js ${kind} model.`, {
      details: { runtimeMessage: message(error) },
      cause: error,
    });
  }
}

/** `backends`: the ones this host offers (Node: TF.js's plain JavaScript CPU backend). */
export function tfjsRuntime(kind: TfjsKind, backends: readonly Backend[] = TFJS_BACKENDS): RuntimeAdapter {
  return {
    backends,
    unsupported: (backend) => (TFJS_BACKENDS.includes(backend) ? `TF.js's ${backend} backend is not offered here` : 'TF.js has no such backend'),
    async create(files, backend, options) {
      // Malformed model.json or a missing shard is the model's fault on every backend: MODEL_INVALID now.
      const artifacts = readArtifacts(files, kind === 'layers' ? 'layers-model' : 'graph-model');
      const available = await probeBackend(backend);
      if (!available.ok) throw new BackendSkipped('unavailable', available.reason);
      const loaded = await withBackend(backend, () => loadModel(kind, artifacts), options?.threads);
      const session = new TfjsSession(loaded, backend);
      try {
        await session.warmUp();
      } catch (error) {
        await session.release().catch(() => undefined);
        throw new BackendSkipped('failed', `a first run on TF.js's ${backend} backend failed: ${message(error)}`);
      }
      return session;
    },
  };
}

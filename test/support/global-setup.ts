/** @file Starts the model server and computes onnxruntime-node's reference outputs once per run. */
import type { TestProject } from 'vitest/node';
import { digitsManifest, referenceLogits } from './digits.mjs';
import { startFaultProxy } from './fault-proxy.mjs';
import { startModelServer } from './model-server.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    modelServer: string;
    /** The same host behind a fault-injecting proxy. */
    faultProxy: string;
    referenceLogits: { logits: number[]; dims: number[] };
    /** The same for the next release (1.1.0), to tell which version ran. */
    nextReferenceLogits: { logits: number[]; dims: number[] };
    /** onnxruntime-node's logits for each variant file of the 1.0.0 release. */
    variantReferences: Record<string, { logits: number[]; dims: number[] }>;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startModelServer();
  project.provide('modelServer', server.url);
  const proxy = await startFaultProxy(server.url);
  project.provide('faultProxy', proxy.url);
  project.provide('referenceLogits', await referenceLogits());
  project.provide('nextReferenceLogits', await referenceLogits('next'));
  const variants = Object.keys(digitsManifest().variants);
  project.provide('variantReferences', Object.fromEntries(await Promise.all(variants.map(async (v) => [v, await referenceLogits('release', v)]))));
  return async () => {
    await proxy.close();
    await server.close();
  };
}

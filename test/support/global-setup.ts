/** @file Starts the model server and computes onnxruntime-node's reference outputs once per run. */
import type { TestProject } from 'vitest/node';
import { referenceLogits } from './digits.mjs';
import { startModelServer } from './model-server.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    modelServer: string;
    referenceLogits: { logits: number[]; dims: number[] };
    /** The same for the next release (1.1.0), to tell which version ran. */
    nextReferenceLogits: { logits: number[]; dims: number[] };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startModelServer();
  project.provide('modelServer', server.url);
  project.provide('referenceLogits', await referenceLogits());
  project.provide('nextReferenceLogits', await referenceLogits('next'));
  return () => server.close();
}

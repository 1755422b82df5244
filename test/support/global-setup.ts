/** @file Starts the model server and computes onnxruntime-node's reference outputs once per run. */
import type { TestProject } from 'vitest/node';
import { referenceLogits } from './digits.mjs';
import { startModelServer } from './model-server.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    modelServer: string;
    referenceLogits: { logits: number[]; dims: number[] };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startModelServer();
  project.provide('modelServer', server.url);
  project.provide('referenceLogits', await referenceLogits());
  return () => server.close();
}

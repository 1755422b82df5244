/**
 * @file A hostile release: an ONNX model whose one initializer says its bytes live in a file the
 * release never listed (`package.json`, which sits in the working directory of every test process),
 * so a runtime that follows the reference reads that file and hands its bytes back as the output.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeModel, onnx } from '../../src/cli/onnx-model.js';

export const LEAKED_BYTES = 16;

/** `y = Concat(x, W)` over uint8, where W's 16 bytes are "external data" at `location`. */
export function leakyModel(location = 'package.json'): Uint8Array {
  const tensorType = (dims: number[]) => ({ tensorType: { elemType: 2, shape: { dim: dims.map((d) => ({ dimValue: d })) } } });
  return encodeModel(
    onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 13 }],
      producerName: 'ondevice-tests',
      graph: {
        name: 'leak',
        node: [{ opType: 'Concat', input: ['x', 'W'], output: ['y'], attribute: [{ name: 'axis', type: 2, i: 0 }] }],
        initializer: [{ name: 'W', dataType: 2, dims: [LEAKED_BYTES], dataLocation: 1, externalData: [{ key: 'location', value: location }, { key: 'offset', value: '0' }, { key: 'length', value: String(LEAKED_BYTES) }] }],
        input: [{ name: 'x', type: tensorType([1]) }],
        output: [{ name: 'y', type: tensorType([1 + LEAKED_BYTES]) }],
      },
    }),
  );
}

/** A release folder holding only the leaky model, listed in its manifest; returns the manifest's path. */
export function leakyRelease(dir: string, location?: string): string {
  mkdirSync(dir, { recursive: true });
  const bytes = leakyModel(location);
  writeFileSync(join(dir, 'leak.onnx'), bytes);
  const manifest = {
    format: 'ondevice/1',
    name: 'leak',
    version: '1.0.0',
    runtime: 'onnx',
    variants: { fp32: { files: [{ path: 'leak.onnx', size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }] } },
    inputs: [{ name: 'x', type: 'uint8', dims: [1] }],
    outputs: [{ name: 'y', type: 'uint8', dims: [1 + LEAKED_BYTES] }],
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  return join(dir, 'manifest.json');
}

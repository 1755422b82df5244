/**
 * @file One run of one graph of a loaded model: the graph picked by name, refs turned into the values
 * they stand for, the outputs asked to be kept registered as refs, and the rest returned with data.
 */
import { OndeviceError } from '../errors.js';
import type { GraphSessions } from './graphs.js';
import { splitInputs, type RefRegistry, type WireRunOptions, type WireTensors } from './refs.js';

function listed(names: Iterable<string>): string {
  return [...names].map((n) => `"${n}"`).join(', ');
}

export async function runGraph(sessions: GraphSessions, refs: RefRegistry, runtime: string, inputs: WireTensors, options: WireRunOptions = {}): Promise<WireTensors> {
  const name = options.graph ?? sessions.graphs.keys().next().value!;
  const session = sessions.graphs.get(name);
  if (!session) {
    throw new OndeviceError('INPUT_INVALID', `Option "graph": this model has no graph "${name}"; its graphs are ${listed(sessions.graphs.keys())}.`, {
      details: { input: 'graph', expected: [...sessions.graphs.keys()], actual: name },
    });
  }
  const keep = options.keep;
  if (Array.isArray(keep)) {
    const outputs = session.outputs.map((o) => o.name);
    const unknown = keep.filter((k) => !outputs.includes(k));
    if (unknown.length > 0) {
      throw new OndeviceError('INPUT_INVALID', `Option "keep" names ${listed(unknown)}, not an output of graph "${name}"; its outputs are ${listed(outputs)}.`, {
        details: { input: 'keep', expected: outputs, actual: unknown },
      });
    }
  }
  const { tensors, kept } = splitInputs(inputs, refs);
  if (keep === undefined && Object.keys(kept).length === 0) return session.run(tensors);
  if (!session.runKeeping) {
    throw new OndeviceError('INPUT_INVALID', `Kept outputs (run option "keep", and refs as inputs) need an ONNX model; this ${runtime} model returns every output with its data. Run it without "keep".`, {
      details: { input: 'keep', runtime },
    });
  }
  const result = await session.runKeeping(tensors, kept, keep ?? []);
  const outputs: WireTensors = { ...result.outputs };
  for (const [output, value] of Object.entries(result.kept)) outputs[output] = refs.add(value);
  return outputs;
}

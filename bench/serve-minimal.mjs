/**
 * @file The smallest HTTP server around onnxruntime-node there can be, for the serve suite's context:
 * it parses the JSON, runs, answers, and checks nothing. What `ondevice serve` costs above this is the
 * price of its checks, limits and metrics; what this costs above in-process calls is HTTP and JSON.
 * argv: <model.onnx> <input name> <dims as JSON>; prints its URL.
 */
import { createServer } from 'node:http';
import ort from 'onnxruntime-node';

const [file, input, dims] = process.argv.slice(2);
const session = await ort.InferenceSession.create(/** @type {string} */ (file), { intraOpNumThreads: 1, extra: { 'session.intra_op.allow_spinning': '0' } });
const shape = JSON.parse(/** @type {string} */ (dims));
const server = createServer((req, res) => {
  /** @type {Buffer[]} */
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const body = JSON.parse(Buffer.concat(chunks).toString());
    const out = await session.run({ [/** @type {string} */ (input)]: new ort.Tensor('float32', Float32Array.from(body.inputs[0].data), shape) });
    const [name, value] = Object.entries(out)[0] ?? [];
    const text = JSON.stringify({ outputs: [{ name, datatype: 'FP32', shape: value?.dims, data: Array.from(/** @type {Float32Array} */ (value?.data)) }] });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  });
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`on http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}\n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));

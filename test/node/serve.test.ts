/**
 * @file `ondevice serve` over real HTTP: the Open Inference Protocol against onnxruntime-node's numbers,
 * bad input refused with 400/404/405/413 while the server keeps serving, auth, CORS, metrics, hot
 * update and revocation against the real model server, and a graceful SIGTERM of the built command.
 */
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { createLimiter } from '../../src/serve/limits.js';
import { digitsTestSet } from '../support/digits.mjs';
import { builtNodeEntry } from '../support/node-build.js';
import { LiveHost, eventually, maxAbsDiff, release } from '../support/node-host.js';
import { DIGITS, images, inferBody, post, serveHarness } from '../support/serve-harness.js';

const harness = serveHarness();
const serve = harness.serve;

describe('the Open Inference Protocol', () => {
  test('metadata, readiness and health', async () => {
    const { url } = await serve();
    expect(await (await fetch(`${url}/v2/health/live`)).json()).toEqual({ live: true });
    expect((await fetch(`${url}/v2/health/ready`)).status).toBe(200);
    expect((await fetch(`${url}/v2/models/digits/ready`)).status).toBe(200);
    expect(await (await fetch(`${url}/v2/models/digits`)).json()).toEqual({
      name: 'digits',
      versions: ['1.0.0'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'image', datatype: 'FP32', shape: [-1, 1, 8, 8] }],
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 10] }],
    });
    expect(await (await fetch(`${url}/v2`)).json()).toMatchObject({ name: 'ondevice' });
  });

  test('infer equals onnxruntime-node on the same file, with flat or nested data, by name or by version', async () => {
    const { url } = await serve({ variant: 'fp32' });
    const flat = await post(`${url}/v2/models/digits/infer`, { id: 'req-1', ...inferBody(10) });
    expect(flat.status).toBe(200);
    expect(flat.json).toMatchObject({ model_name: 'digits', model_version: '1.0.0', id: 'req-1' });
    expect(flat.json['outputs']).toHaveLength(1);
    expect(flat.json['outputs'][0]).toMatchObject({ name: 'logits', datatype: 'FP32', shape: [10, 10] });
    expect(maxAbsDiff(flat.json['outputs'][0].data, harness.servers.references['1.0.0'].slice(0, 100))).toBeLessThanOrEqual(1e-6);
    // The same images as [10][1][8][8] nested arrays.
    const nested = images(10).reduce<number[][]>((rows, v, i) => (i % 8 === 0 ? rows.push([v]) : rows.at(-1)!.push(v), rows), []);
    const byVersion = await post(`${url}/v2/models/digits/versions/1.0.0/infer`, { inputs: [{ name: 'image', shape: [10, 1, 8, 8], datatype: 'FP32', data: Array.from({ length: 10 }, (_, i) => [nested.slice(i * 8, i * 8 + 8)]) }], outputs: [{ name: 'logits' }] });
    expect(byVersion.status).toBe(200);
    expect(byVersion.json['outputs'][0].data).toEqual(flat.json['outputs'][0].data);
  });

  const bad: Array<[string, number, unknown, RegExp]> = [
    ['a body that is not JSON', 400, '{"inputs": [', /not valid JSON/],
    ['a body that is not an object', 400, '[1, 2]', /JSON object/],
    ['no inputs', 400, {}, /"inputs" must be a non-empty array/],
    ['an unknown input', 400, { inputs: [{ name: 'img', shape: [1, 1, 8, 8], datatype: 'FP32', data: images(1) }] }, /Unknown input "img".*"image"/],
    ['a wrong datatype', 400, inferBody(1, { datatype: 'INT32' }), /"image" is FP32, got INT32/],
    ['a datatype that does not exist', 400, inferBody(1, { datatype: 'FLOAT' }), /"datatype" must be one of/],
    ['a wrong shape', 400, inferBody(1, { shape: [1, 1, 8, 7] }), /has shape \[-1, 1, 8, 8\].*got \[1, 1, 8, 7\]/],
    ['a negative dimension', 400, inferBody(1, { shape: [-1, 1, 8, 8] }), /non-negative integers/],
    ['data that does not fill the shape', 400, inferBody(1, { shape: [2, 1, 8, 8] }), /needs 128 values, got 64/],
    ['data that is not numbers', 400, inferBody(1, { data: [...images(1).slice(1), 'x'] }), /data\[63\] must be a number/],
    ['data nested deeper than the shape', 400, inferBody(1, { data: [...images(1).slice(1), [[[[[[[1]]]]]]]] }), /data\[63\] must be a number/],
    ['an input given twice', 400, { inputs: [inferBody(1).inputs[0], inferBody(1).inputs[0]] }, /given twice/],
    ['an unknown output', 400, { ...inferBody(1), outputs: [{ name: 'probs' }] }, /Unknown output "probs"/],
  ];
  test.each(bad)('%s: %i, with an error that says what to send, and the server keeps serving', async (_, status, body, message) => {
    const { url } = await serve();
    const answer = await post(`${url}/v2/models/digits/infer`, body);
    expect(answer.status).toBe(status);
    expect(answer.json['error']).toMatch(message);
    expect((await post(`${url}/v2/models/digits/infer`, inferBody(1))).status).toBe(200);
  });

  test('an unknown model or version is 404, an unknown route 404, a wrong method 405', async () => {
    const { url } = await serve();
    expect(await post(`${url}/v2/models/cats/infer`, inferBody(1))).toMatchObject({ status: 404, json: { error: expect.stringContaining('"digits"') } });
    expect((await post(`${url}/v2/models/digits/versions/9.9.9/infer`, inferBody(1))).status).toBe(404);
    expect((await fetch(`${url}/v1/models/digits:predict`)).status).toBe(404);
    const wrong = await fetch(`${url}/v2/models/digits/infer`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
  });

  test('a body over --max-body is 413, announced or not, and the server keeps serving', async () => {
    const { url } = await serve({ maxBody: 1024 });
    expect((await post(`${url}/v2/models/digits/infer`, inferBody(10))).status).toBe(413);
    // Chunked (no Content-Length): refused as it arrives.
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(JSON.stringify(inferBody(10))));
        controller.close();
      },
    });
    const chunked = await fetch(`${url}/v2/models/digits/infer`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    expect(chunked.status).toBe(413);
    expect((await post(`${url}/v2/models/digits/infer`, inferBody(1))).status).toBe(200);
  });
});

describe('the binary tensor data extension (what tritonclient sends by default)', () => {
  /** A body as tritonclient builds it: the JSON header, then each binary input's bytes. */
  function binaryBody(header: unknown, ...tensors: ArrayBufferView[]) {
    const json = Buffer.from(JSON.stringify(header));
    return { body: Buffer.concat([json, ...tensors.map((t) => Buffer.from(t.buffer, t.byteOffset, t.byteLength))]), headerLength: json.length };
  }
  async function postBinary(url: string, header: unknown, ...tensors: ArrayBufferView[]) {
    const { body, headerLength } = binaryBody(header, ...tensors);
    const response = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength) } });
    const bytes = Buffer.from(await response.arrayBuffer());
    const length = Number(response.headers.get('inference-header-content-length') ?? bytes.length);
    return { status: response.status, json: JSON.parse(bytes.subarray(0, length).toString()) as Record<string, any>, binary: bytes.subarray(length) };
  }

  test('binary inputs and outputs carry the same numbers as JSON', async () => {
    const { url } = await serve({ variant: 'fp32' });
    const data = digitsTestSet().images.slice(0, 640);
    const answer = await postBinary(`${url}/v2/models/digits/infer`, { inputs: [{ name: 'image', shape: [10, 1, 8, 8], datatype: 'FP32', parameters: { binary_data_size: data.byteLength } }], outputs: [{ name: 'logits', parameters: { binary_data: true } }] }, data);
    expect(answer.status, JSON.stringify(answer.json)).toBe(200);
    expect(answer.json['outputs']).toEqual([{ name: 'logits', datatype: 'FP32', shape: [10, 10], parameters: { binary_data_size: 400 } }]);
    const logits = new Float32Array(answer.binary.buffer.slice(answer.binary.byteOffset, answer.binary.byteOffset + answer.binary.byteLength));
    expect(maxAbsDiff(logits, harness.servers.references['1.0.0'].slice(0, 100))).toBeLessThanOrEqual(1e-6);
    // Binary in, JSON out (no binary_data asked for): a plain JSON answer.
    const mixed = await postBinary(`${url}/v2/models/digits/infer`, { inputs: [{ name: 'image', shape: [10, 1, 8, 8], datatype: 'FP32', parameters: { binary_data_size: data.byteLength } }] }, data);
    expect(maxAbsDiff(mixed.json['outputs'][0].data, logits)).toBe(0);
    // binary_data_output: every output as bytes.
    const all = await postBinary(`${url}/v2/models/digits/infer`, { inputs: [{ name: 'image', shape: [10, 1, 8, 8], datatype: 'FP32', parameters: { binary_data_size: data.byteLength } }], parameters: { binary_data_output: true } }, data);
    expect(all.binary.equals(answer.binary)).toBe(true);
  });

  const broken: Array<[string, (data: Float32Array) => { header: unknown; tensors: ArrayBufferView[]; length?: string }, RegExp]> = [
    ['a size that does not match the shape', (d) => ({ header: { inputs: [{ name: 'image', shape: [1, 1, 8, 8], datatype: 'FP32', parameters: { binary_data_size: 100 } }] }, tensors: [d] }), /make 256 bytes, but "binary_data_size" says 100/],
    ['a binary part shorter than it says', (d) => ({ header: { inputs: [{ name: 'image', shape: [1, 1, 8, 8], datatype: 'FP32', parameters: { binary_data_size: 256 } }] }, tensors: [d.subarray(0, 10)] }), /ends 216 bytes short/],
    ['bytes no input claims', (d) => ({ header: { inputs: [{ name: 'image', shape: [1, 1, 8, 8], datatype: 'FP32', parameters: { binary_data_size: 256 } }] }, tensors: [d, d] }), /256 bytes that no input/],
    ['a header length beyond the body', (d) => ({ header: { inputs: [] }, tensors: [d], length: '999999' }), /Inference-Header-Content-Length must be/],
  ];
  test.each(broken)('%s: 400, and the server keeps serving', async (_, make, message) => {
    const { url } = await serve();
    const { header, tensors, length } = make(digitsTestSet().images.slice(0, 64));
    const { body, headerLength } = binaryBody(header, ...tensors);
    const response = await fetch(`${url}/v2/models/digits/infer`, { method: 'POST', body, headers: { 'inference-header-content-length': length ?? String(headerLength) } });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(message);
    expect((await post(`${url}/v2/models/digits/infer`, inferBody(1))).status).toBe(200);
  });
});

describe('robustness', () => {
  test('a client that sends half a request is cut off after --timeout; the server keeps serving', async () => {
    const { url } = await serve({ timeoutMs: 1_000 });
    const { port } = new URL(url);
    const socket = connect(Number(port), '127.0.0.1');
    socket.write('POST /v2/models/digits/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{"inputs": [');
    let answer = '';
    socket.on('data', (c: Buffer) => (answer += c.toString()));
    await new Promise((resolve) => socket.once('close', resolve));
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect((await post(`${url}/v2/models/digits/infer`, inferBody(1))).status).toBe(200);
  });

  test('a run that fails in the runtime is 500 with the error code, and the server keeps serving', async () => {
    // A bare .onnx whose every dimension is named: any shape of rank 2 passes the declaration, but
    // its MatMul needs 16 features.
    const { url } = await serve({ models: [fileURLToPath(new URL('../../models/exporters/dynamic-axes.onnx', import.meta.url))] });
    const infer = (features: number) => post(`${url}/v2/models/dynamic-axes/infer`, { inputs: [{ name: 'x', shape: [1, features], datatype: 'FP32', data: new Array(features).fill(1) }] });
    const answer = await infer(3);
    expect(answer.status, JSON.stringify(answer.json)).toBe(500);
    expect(answer.json).toMatchObject({ code: 'RUN_FAILED', error: expect.stringContaining('onnxruntime-node') });
    expect(await infer(16)).toMatchObject({ status: 200, json: { outputs: [{ shape: [1, 4] }] } });
    expect(await (await fetch(`${url}/metrics`)).text()).toContain('ondevice_inference_failures_total{model="dynamic-axes",code="RUN_FAILED"} 1');
  });

  test('several models in one server, each by its name', async () => {
    const tfjs = fileURLToPath(new URL('../../models/digits-tfjs/layers/manifest.json', import.meta.url));
    const { url } = await serve({ models: [DIGITS, tfjs] });
    expect(await (await fetch(`${url}/v2/models/digits-layers`)).json()).toMatchObject({ platform: 'tensorflow_js', inputs: [{ name: 'image', datatype: 'FP32', shape: [-1, 8, 8, 1] }] });
    const answer = await post(`${url}/v2/models/digits-layers/infer`, { inputs: [{ name: 'image', shape: [1, 8, 8, 1], datatype: 'FP32', data: images(1) }] });
    expect(answer.status).toBe(200);
    expect(answer.json['outputs'][0].shape).toEqual([1, 10]);
    expect((await post(`${url}/v2/models/digits/infer`, inferBody(1))).status).toBe(200);
  });
});

describe('access', () => {
  test('with a token, every request but the health checks needs it', async () => {
    const token = 'a'.repeat(32);
    const { url } = await serve({ token });
    expect((await fetch(`${url}/v2/health/ready`)).status).toBe(200);
    expect((await post(`${url}/v2/models/digits/infer`, inferBody(1))).status).toBe(401);
    expect((await post(`${url}/v2/models/digits/infer`, inferBody(1), { authorization: `Bearer ${'b'.repeat(32)}` })).status).toBe(401);
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    expect((await post(`${url}/v2/models/digits/infer`, inferBody(1), { authorization: `Bearer ${token}` })).status).toBe(200);
  });

  test('CORS is off unless an origin is named', async () => {
    const closed = await serve();
    expect((await fetch(`${closed.url}/v2/models/digits`, { headers: { origin: 'https://app.example' } })).headers.get('access-control-allow-origin')).toBeNull();
    const open = await serve({ cors: 'https://app.example' });
    expect((await fetch(`${open.url}/v2/models/digits`)).headers.get('access-control-allow-origin')).toBe('https://app.example');
    const preflight = await fetch(`${open.url}/v2/models/digits/infer`, { method: 'OPTIONS' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');
  });

  test('it listens on 127.0.0.1 unless told otherwise', async () => {
    const { url } = await serve();
    expect(new URL(url).hostname).toBe('127.0.0.1');
  });
});

describe('the run limit', () => {
  test('runs beyond the cap wait in a bounded queue; beyond it, or past the wait, 503 with Retry-After', async () => {
    const limiter = createLimiter(1, 1, 200);
    const first = await limiter.acquire();
    const queued = limiter.acquire();
    await expect(limiter.acquire()).rejects.toMatchObject({ status: 503, headers: { 'retry-after': '1' } });
    expect([limiter.running, limiter.queued]).toEqual([1, 1]);
    first();
    first(); // a second release of the same slot frees nothing more
    const second = await queued;
    expect([limiter.running, limiter.queued]).toEqual([1, 0]);
    await expect(limiter.acquire()).rejects.toMatchObject({ status: 503, message: expect.stringContaining('200 ms') });
    second();
    expect(limiter.running).toBe(0);
  });
});

describe('metrics', () => {
  test('requests and failures by code, a latency histogram, and the version served', async () => {
    const { url } = await serve();
    for (let i = 0; i < 3; i++) await post(`${url}/v2/models/digits/infer`, inferBody(1));
    await post(`${url}/v2/models/digits/infer`, inferBody(1, { datatype: 'INT8' }));
    const response = await fetch(`${url}/metrics`);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    expect(text).toContain('ondevice_requests_total{route="infer",status="200"} 3');
    expect(text).toContain('ondevice_requests_total{route="infer",status="400"} 1');
    expect(text).toContain('ondevice_inference_failures_total{model="digits",code="BAD_REQUEST"} 1');
    expect(text).toContain('ondevice_inference_duration_seconds_count{model="digits"} 3');
    expect(text).toMatch(/ondevice_inference_duration_seconds_bucket\{le="0.005",model="digits"\} \d/);
    expect(text).toMatch(/ondevice_model_info\{model="digits",version="1.0.0",variant="\w+",backend="cpu"\} 1/);
    expect(text).toContain('ondevice_model_ready{model="digits"} 1');
  });
});

describe('updates', () => {
  test('a new version is swapped in between requests; requests in flight finish on the version they started on', async () => {
    const host = new LiveHost(harness.servers.server);
    await host.publish(await release('release'));
    const { url } = await serve({ models: [host.url], updateInterval: 0.2 });
    await host.publish(await release('next'));
    const seen = new Set<string>();
    let failures = 0;
    // Requests keep coming while the server swaps.
    await eventually(async () => {
      const answers = await Promise.all([0, 1, 2, 3].map(() => post(`${url}/v2/models/digits/infer`, inferBody(10))));
      for (const a of answers) {
        if (a.status !== 200) failures++;
        const version = a.json['model_version'] as '1.0.0' | '1.1.0';
        seen.add(version);
        // Each answer's numbers are those of the version it names.
        if (maxAbsDiff(a.json['outputs'][0].data, harness.servers.references[version].slice(0, 100)) > 1e-5) failures++;
      }
      return seen.has('1.1.0');
    }, 'the new version to be served');
    expect(failures).toBe(0);
    expect([...seen].sort()).toEqual(['1.0.0', '1.1.0']);
    expect(await (await fetch(`${url}/v2/models/digits`)).json()).toMatchObject({ versions: ['1.1.0'] });
  });

  test('a revoked version stops being served (503) until a good one runs', async () => {
    const host = new LiveHost(harness.servers.server);
    const [v1, v2] = [await release('release'), await release('next')];
    await host.publish(v1);
    const { url } = await serve({ models: [host.url], updateInterval: 0.2 });
    await host.publish({ ...v1, revoked: ['1.0.0'] });
    await eventually(async () => (await post(`${url}/v2/models/digits/infer`, inferBody(1))).status === 503, 'the revocation');
    const refused = await post(`${url}/v2/models/digits/infer`, inferBody(1));
    expect(refused.json['error']).toMatch(/revoked/);
    expect((await fetch(`${url}/v2/health/ready`)).status).toBe(503);
    expect((await fetch(`${url}/v2/health/live`)).status).toBe(200);
    await host.publish({ ...v2, revoked: ['1.0.0'] });
    await eventually(async () => (await post(`${url}/v2/models/digits/infer`, inferBody(1))).status === 200, 'the good version');
    expect((await post(`${url}/v2/models/digits/infer`, inferBody(1))).json['model_version']).toBe('1.1.0');
  });

  test('a model that cannot load at start: the server runs, answers 503 with the reason, and loads it once the host answers', async () => {
    const host = new LiveHost(harness.servers.server);
    await host.publish(await release('release'));
    await host.down(true);
    const { url } = await serve({ models: [host.url], updateInterval: 0.2 });
    expect((await fetch(`${url}/v2/health/live`)).status).toBe(200);
    expect((await fetch(`${url}/v2/health/ready`)).status).toBe(503);
    // Until it loads, the model is known by its URL.
    const refused = await post(`${url}/v2/models/${encodeURIComponent(host.url)}/infer`, inferBody(1));
    expect(refused.status).toBe(503);
    expect(refused.json['error']).toMatch(/could not be loaded: DOWNLOAD_FAILED/);
    await host.down(false);
    await eventually(async () => (await fetch(`${url}/v2/health/ready`)).status === 200, 'the model to load');
    expect((await post(`${url}/v2/models/digits/infer`, inferBody(1))).json['model_version']).toBe('1.0.0');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics.split('\n').filter((l) => l.startsWith('ondevice_model_ready'))).toEqual(['ondevice_model_ready{model="digits"} 1']);
  });

  test('offline at start with a cached version: it serves that version', async () => {
    const host = new LiveHost(harness.servers.server);
    await host.publish(await release('release'));
    await (await serve({ models: [host.url] })).close();
    harness.running.length = 0;
    await host.down(true);
    const { url } = await serve({ models: [host.url] });
    const answer = await post(`${url}/v2/models/digits/infer`, inferBody(10));
    expect(answer.status).toBe(200);
    expect(answer.json['model_version']).toBe('1.0.0');
    expect(maxAbsDiff(answer.json['outputs'][0].data, harness.servers.references['1.0.0'].slice(0, 100))).toBeLessThanOrEqual(1e-5);
  });
});

describe('the command', () => {
  test('`ondevice serve` answers, then on SIGTERM finishes what is in flight and exits 0', async () => {
    const cli = join(dirname(builtNodeEntry()), 'cli.js');
    const proc = spawn(process.execPath, [cli, 'serve', DIGITS, '--port', '0', '--cache-dir', harness.cacheDir, '--update-interval', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      proc.stdout.on('data', (c: Buffer) => {
        const m = /on (http:\/\/\S+)/.exec(c.toString());
        if (m) resolve(m[1]!);
      });
      proc.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    // It listens before the model has loaded: ready says when it has.
    await eventually(async () => (await fetch(`${url}/v2/health/ready`)).status === 200, 'the model to load');
    // A request the server has begun to answer when the signal comes: its headers and half its body
    // sent, the rest held back until the server says it is stopping. The gauge of requests in flight
    // (2: this one and the scrape itself) says the server has it, however busy the machine.
    const body = Buffer.from(JSON.stringify(inferBody(100)));
    const request = httpRequest(`${url}/v2/models/digits/infer`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(body.length) } });
    const answered = new Promise<{ status: number; text: string }>((resolve, reject) => {
      request.once('response', (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      request.on('error', reject);
    });
    request.write(body.subarray(0, body.length >> 1));
    const inFlight = async () => /^ondevice_requests_in_flight (\d+)$/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1];
    await eventually(async () => (await inFlight()) === '2', 'the server to have the request');
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await eventually(() => stderr.includes('stopping'), 'the server to say it is stopping');
    request.end(body.subarray(body.length >> 1));
    const [answer, code] = await Promise.all([answered, exited]);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)['outputs'][0].shape).toEqual([100, 10]);
    expect(code).toBe(0);
    expect(stderr).toContain('stopping');
  }, 60_000);

  test('bad flags are refused with the reason', async () => {
    const { serveOptions } = await import('../../src/cli/serve-command.js');
    await expect(serveOptions([])).rejects.toThrow(/manifest URL or path is required/);
    await expect(serveOptions([DIGITS, '--max-body', 'lots'])).rejects.toThrow(/--max-body/);
    await expect(serveOptions([DIGITS, '--token', 'short'])).rejects.toThrow(/at least 16/);
    await expect(serveOptions([DIGITS, '--backend', 'tpu'])).rejects.toThrow(/--backend/);
    expect(await serveOptions([DIGITS, '--model', 'b.json', '--max-body', '2mb', '--backend', 'cuda,cpu'], { ONDEVICE_SERVE_TOKEN: 'x'.repeat(20) })).toMatchObject({
      models: [DIGITS, 'b.json'],
      maxBody: 2 * 1024 * 1024,
      backend: ['cuda', 'cpu'],
      token: 'x'.repeat(20),
    });
  });
});

/**
 * @file `ondevice serve` under hostile load: requests built to exhaust memory (repeated output names,
 * huge batches, many slow uploads, many connections), a hanging model host, malformed paths and
 * data, out-of-range time options, and what a browser client needs (CORS for the binary extension).
 * Each case failed before its fix; the server must answer with a clear 4xx/5xx and keep serving.
 */
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { serveOptions } from '../../src/cli/serve-command.js';
import { startServer } from '../../src/serve/server.js';
import { builtNodeEntry } from '../support/node-build.js';
import { LiveHost, eventually, release } from '../support/node-host.js';
import { DIGITS, images, inferBody, post, serveHarness } from '../support/serve-harness.js';

const harness = serveHarness();
const serve = harness.serve;

/** A raw connection that has sent `text` (and keeps the connection open). */
function rawRequest(url: string, text: string): Socket {
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  socket.on('error', () => undefined);
  socket.write(text);
  return socket;
}

describe('memory a request can make the server hold', () => {
  test('an output named twice is 400 (one request asking for it thousands of times once took the heap)', async () => {
    const { url } = await serve();
    const answer = await post(`${url}/v2/models/digits/infer`, { ...inferBody(1), outputs: Array.from({ length: 5000 }, () => ({ name: 'logits' })) });
    expect(answer.status).toBe(400);
    expect(answer.json['error']).toMatch(/Output "logits" is asked for twice/);
    expect((await post(`${url}/v2/models/digits/infer`, inferBody(1))).status).toBe(200);
  });

  test('a free dimension over --max-batch is 413 naming the flag; at the limit it runs', async () => {
    const { url } = await serve({ maxBatch: 16 });
    const over = await post(`${url}/v2/models/digits/infer`, inferBody(17));
    expect(over.status).toBe(413);
    expect(over.json['error']).toMatch(/"image".*17.*--max-batch 16/);
    expect((await post(`${url}/v2/models/digits/infer`, inferBody(16))).status).toBe(200);
  });

  test('--max-batch has a default: a batch of 100,000 is refused before it runs', async () => {
    const { url } = await serve();
    // Declared, not sent: 100,000 images would be 25 MB; the shape alone is over the limit.
    const answer = await post(`${url}/v2/models/digits/infer`, { inputs: [{ name: 'image', shape: [100_000, 1, 8, 8], datatype: 'FP32', data: [] }] });
    expect(answer.status).toBe(413);
    expect(answer.json['error']).toMatch(/--max-batch 1024/);
  });

  test('bytes held across all requests are bounded (--max-buffered): slow uploads past it get 503, and the server serves once they go', async () => {
    const { url, buffered } = await serve({ maxBuffered: 120_100 });
    // An upload that announces 60 kB and sends only the start of it: it holds twice its size.
    const slow = [rawRequest(url, `POST /v2/models/digits/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{"inputs": [`)];
    await eventually(() => buffered() === 120_000, 'the upload to be counted');
    const refused = await post(`${url}/v2/models/digits/infer`, inferBody(1));
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.json['error']).toMatch(/--max-buffered/);
    for (const s of slow) s.destroy();
    await eventually(() => buffered() === 0, 'the uploads to be let go');
    expect((await post(`${url}/v2/models/digits/infer`, inferBody(1))).status).toBe(200);
  });

  test('connections are bounded (--max-connections): one over it is closed, and served again once one goes', async () => {
    const { url, server } = await serve({ maxConnections: 2 });
    const held = [0, 1].map(() => rawRequest(url, ''));
    await eventually(async () => (await new Promise<number>((r) => server.getConnections((_, n) => r(n)))) === 2, 'two connections');
    await expect(fetch(`${url}/v2/health/live`)).rejects.toThrow();
    held[0]!.destroy();
    await eventually(async () => (await fetch(`${url}/v2/health/live`).then((r) => r.status, () => 0)) === 200, 'a free connection');
    held[1]!.destroy();
  });
});

describe('malformed requests are 400, never a 500 "please report it"', () => {
  test('a malformed percent-encoding in the path', async () => {
    const { url } = await serve();
    for (const path of ['/v2/models/%E0%A4%A/infer', '/v2/models/digits/versions/%ZZ/ready']) {
      const response = await fetch(`${url}${path}`, { method: path.endsWith('infer') ? 'POST' : 'GET', body: path.endsWith('infer') ? '{}' : null });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toMatch(/percent-encoding/);
    }
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).not.toContain('status="500"');
  });

  test('data nested 20,000 deep', async () => {
    const { url } = await serve();
    const deep = `${'['.repeat(20_000)}1${']'.repeat(20_000)}`;
    const body = `{"inputs":[{"name":"image","shape":[1,1,8,8],"datatype":"FP32","data":[${images(1).slice(1).join(',')},${deep}]}]}`;
    const answer = await post(`${url}/v2/models/digits/infer`, body);
    expect(answer.status).toBe(400);
    expect(answer.json['error']).toMatch(/data\[63\] must be a number, got an array/);
    expect((await post(`${url}/v2/models/digits/infer`, inferBody(1))).status).toBe(200);
  });
});

describe('time options', () => {
  test('above what Node timers hold (2^31−1 ms) they are refused with the range, not run every millisecond', async () => {
    await expect(serveOptions([DIGITS, '--update-interval', '2592000'])).rejects.toThrow(/--update-interval must be.*0 and 2147483/);
    await expect(serveOptions([DIGITS, '--timeout', '3000000'])).rejects.toThrow(/--timeout must be.*1 and 2147483/);
    await expect(startServer({ models: [DIGITS], port: 0, updateInterval: 2_592_000 })).rejects.toMatchObject({ code: 'INPUT_INVALID', message: expect.stringMatching(/updateInterval/) });
    await expect(startServer({ models: [DIGITS], port: 0, timeoutMs: 2 ** 31 })).rejects.toMatchObject({ code: 'INPUT_INVALID', message: expect.stringMatching(/timeoutMs/) });
    expect(await serveOptions([DIGITS, '--update-interval', '2147483', '--timeout', '600'])).toMatchObject({ updateInterval: 2147483, timeoutMs: 600_000 });
  });
});

describe('a model host that hangs', () => {
  /** The proxy answers nothing for requests to `match` until the client gives up. */
  const hang = (match: string) => fetch(`${harness.servers.proxy}/__faults`, { method: 'PUT', body: JSON.stringify([{ match, fault: 'hang', times: 1000 }]) });

  test('the server listens at once and reports not ready; close() aborts the hanging request', async () => {
    const host = new LiveHost(harness.servers.server, harness.servers.proxy);
    await host.publish(await release('release'));
    await hang(host.id);
    // Before the fix, startServer awaited the manifest: this line never returned.
    const server = await startServer({ models: [host.url], port: 0, cacheDir: harness.cacheDir, updateInterval: 0, log: () => undefined });
    expect((await fetch(`${server.url}/v2/health/live`)).status).toBe(200);
    const ready = await fetch(`${server.url}/v2/health/ready`);
    expect(ready.status).toBe(503);
    // Closing does not wait for the host.
    await server.close();
    await hang('nothing');
  });

  test('a request to the host is timed out (--host-timeout) with a message that says so', async () => {
    const host = new LiveHost(harness.servers.server, harness.servers.proxy);
    await host.publish(await release('release'));
    await hang(host.id);
    const { url } = await serve({ models: [host.url], hostTimeoutMs: 300 });
    const problem = async () => ((await post(`${url}/v2/models/${encodeURIComponent(host.url)}/infer`, inferBody(1))).json['error'] as string) ?? '';
    await eventually(async () => /did not answer within 0\.3 s/.test(await problem()), 'the load to time out');
    await hang('nothing');
  });

  test('a warm cache serves at once while the host hangs', async () => {
    const host = new LiveHost(harness.servers.server, harness.servers.proxy);
    await host.publish(await release('release'));
    await (await serve({ models: [host.url] })).close();
    harness.running.length = 0;
    await hang(host.id);
    const { url } = await serve({ models: [host.url], hostTimeoutMs: 600_000 });
    await eventually(async () => (await fetch(`${url}/v2/health/ready`)).status === 200, 'the cached version to serve');
    expect((await post(`${url}/v2/models/digits/infer`, inferBody(1))).json['model_version']).toBe('1.0.0');
    await hang('nothing');
  });
});

describe('the command, with a model host that hangs', () => {
  test('SIGTERM exits at once, not when the hanging update check gives up (--host-timeout 600)', async () => {
    const host = new LiveHost(harness.servers.server, harness.servers.proxy);
    await host.publish(await release('release'));
    await (await serve({ models: [host.url] })).close();
    harness.running.length = 0;
    await fetch(`${harness.servers.proxy}/__faults`, { method: 'PUT', body: JSON.stringify([{ match: host.id, fault: 'hang', times: 1000 }]) });
    const cli = join(dirname(builtNodeEntry()), 'cli.js');
    const proc = spawn(process.execPath, [cli, 'serve', host.url, '--port', '0', '--cache-dir', harness.cacheDir, '--host-timeout', '600'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
    const url = await new Promise<string>((resolve, reject) => {
      proc.stdout.on('data', (c: Buffer) => {
        const m = /on (http:\/\/\S+)/.exec(c.toString());
        if (m) resolve(m[1]!);
      });
      void exited.then((code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    // Served from the cache while its update check hangs on the host.
    await eventually(async () => (await fetch(`${url}/v2/health/ready`)).status === 200, 'the cached version');
    await eventually(async () => (await (await fetch(`${harness.servers.proxy}/__log`)).json() as Array<{ path: string }>).some((r) => r.path.includes(host.id)), 'the hanging check');
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    await fetch(`${harness.servers.proxy}/__faults`, { method: 'PUT', body: '[]' });
  }, 30_000);
});

describe('what a browser client of the binary extension needs, and what the server says of itself', () => {
  test('CORS allows and exposes Inference-Header-Content-Length; /v2 lists the binary extension', async () => {
    const { url } = await serve({ cors: 'https://app.example' });
    const preflight = await fetch(`${url}/v2/models/digits/infer`, { method: 'OPTIONS' });
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/inference-header-content-length/);
    const answer = await fetch(`${url}/v2/models/digits`);
    expect(answer.headers.get('access-control-expose-headers')).toMatch(/inference-header-content-length/);
    expect(await (await fetch(`${url}/v2`)).json()).toMatchObject({ extensions: ['binary_tensor_data'] });
  });

  test('a 401 is counted under the route it was for', async () => {
    const { url } = await serve({ token: 't'.repeat(20) });
    expect((await fetch(`${url}/v2/models/digits`)).status).toBe(401);
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    const metrics = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${'t'.repeat(20)}` } })).text();
    expect(metrics).toContain('ondevice_requests_total{route="metadata",status="401"} 1');
    expect(metrics).toContain('ondevice_requests_total{route="metrics",status="401"} 1');
  });
});

/**
 * @file `ondevice serve`: the same release the browsers run, over HTTP, in the Open Inference Protocol
 * (KServe v2 REST) that Triton, KServe and MLServer speak. Bad input is refused at the edge (body size,
 * JSON, then each input against the model) before any work; runs are capped, queued and timed; the
 * server stays up whatever a request holds.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OndeviceError, toOndeviceError } from '../errors.js';
import type { BackendPreference, LoadOptions, ModelInfo, TensorMap } from '../types.js';
import { BinaryReader, HEADER, splitBody, tensorBytes } from './binary.js';
import { bearerMatches, createBudget, createLimiter, parseJson, readBody } from './limits.js';
import { createMetrics, type Metrics } from './metrics.js';
import { HttpError, datatypeOf, outputJson, outputMeta, parseInfer, shapeOf } from './oip.js';
import { ServedModel } from './served-model.js';

export interface ServeOptions {
  /** Manifest URLs (or paths) of the models to serve. */
  models: readonly string[];
  /** @default 8080 */
  port?: number;
  /** @default '127.0.0.1' (reachable from this machine only) */
  host?: string;
  cacheDir?: string;
  /** Seconds between update checks; 0 never checks. @default 300 */
  updateInterval?: number;
  backend?: BackendPreference;
  variant?: string;
  publicKey?: LoadOptions['publicKey'];
  /** Every request but the health checks needs `Authorization: Bearer <token>`. */
  token?: string;
  /** The origin allowed to call the server from a browser (CORS is off without it). */
  cors?: string;
  /** Bytes. @default 32 MiB */
  maxBody?: number;
  /** Runs at once. @default 4 */
  maxConcurrent?: number;
  /** Requests waiting for a run; more get 503. @default 64 */
  maxQueue?: number;
  /** Milliseconds a request may take to arrive, and to wait for a run slot. @default 30_000 */
  timeoutMs?: number;
  /** The largest size of an input's free (named) dimension, such as its batch; larger is 413. @default 1024 */
  maxBatch?: number;
  /** Bytes held for requests across all of them (a body counts twice: its bytes, then its tensors); beyond it, 503. @default 256 MiB */
  maxBuffered?: number;
  /** Open connections; more are closed as they arrive. @default 256 */
  maxConnections?: number;
  /** Milliseconds the model host may take to answer (headers, then each chunk of a body). @default 30_000 */
  hostTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface RunningServer {
  url: string;
  server: Server;
  models: readonly ServedModel[];
  metrics: Metrics;
  /** Settles once every model has loaded or failed to (the server listens before). */
  started: Promise<unknown>;
  /** Bytes held for requests now (see `maxBuffered`). */
  buffered(): number;
  /** Stops taking requests, lets those in flight finish, disposes the models. */
  close(): Promise<void>;
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers }).end(text);
};

/** Routes: /v2, /v2/health/{live,ready}, /v2/models/{name}[/versions/{v}][/ready|/infer], /metrics. */
const MODEL_ROUTE = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/infer)?$/;

/** A path segment, percent-decoded; a malformed encoding is the client's error. */
function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `The path has a malformed percent-encoding ("${segment.slice(0, 60)}").`);
  }
}

/** The metrics' route label: known from the path alone, so refusals (401, 404, 405) count where they were aimed. */
function routeLabel(path: string): string {
  if (path.startsWith('/v2/health/')) return 'health';
  if (path === '/metrics') return 'metrics';
  if (path === '/v2') return 'server';
  const match = MODEL_ROUTE.exec(path);
  if (!match) return 'other';
  return match[3] === '/infer' ? 'infer' : match[3] === '/ready' ? 'ready' : 'metadata';
}

/** Node's timers hold at most 2^31−1 ms; a longer delay fires at once (and an interval then every millisecond). */
export const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

function checkRange(name: string, value: number | undefined, min: number, max: number, unit: string): void {
  if (value === undefined || (Number.isFinite(value) && value >= min && value <= max)) return;
  throw new OndeviceError('INPUT_INVALID', `Option "${name}" must be between ${min} and ${max}${unit && ` ${unit}`}; got ${value}.`, { details: { input: name, actual: value } });
}

/** Starts listening at once; each model loads behind it (not ready, 503, until it has). */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  checkRange('updateInterval', options.updateInterval, 0, MAX_TIMER_SECONDS, 'seconds');
  checkRange('timeoutMs', options.timeoutMs, 1, MAX_TIMER_SECONDS * 1000, 'ms');
  checkRange('hostTimeoutMs', options.hostTimeoutMs, 1, MAX_TIMER_SECONDS * 1000, 'ms');
  checkRange('maxBatch', options.maxBatch, 1, Number.MAX_SAFE_INTEGER, '');
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const metrics = createMetrics();
  const limit = options.maxBody ?? 32 * 1024 * 1024;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxBatch = options.maxBatch ?? 1024;
  const budget = createBudget(options.maxBuffered ?? 256 * 1024 * 1024);
  const limiter = createLimiter(options.maxConcurrent ?? 4, options.maxQueue ?? 64, timeoutMs);
  const served = options.models.map(
    (url) =>
      new ServedModel(
        url,
        {
          updateInterval: options.updateInterval ?? 300,
          log,
          hostTimeoutMs: options.hostTimeoutMs ?? 30_000,
          ...(options.cacheDir !== undefined && { cacheDir: options.cacheDir }),
          ...(options.backend !== undefined && { backend: options.backend }),
          ...(options.publicKey !== undefined && { publicKey: options.publicKey }),
          ...(options.variant !== undefined && { variant: options.variant }),
        },
        metrics,
      ),
  );

  /** The model `name` names, and which of its graphs (`undefined`: the default one). */
  type Target = { model: ServedModel; graph: string | undefined; name: string };
  const find = (name: string, version: string | undefined): Target => {
    // A model's own name first: a model named "a.b" is never taken for graph "b" of a model "a".
    const model = served.find((m) => m.name === name) ?? served.find((m) => m.graphOf(name) !== null);
    if (!model) throw new HttpError(404, `No model named "${name}" here; this server has ${served.flatMap((m) => m.names()).map((n) => `"${n}"`).join(', ')}.`);
    if (version !== undefined && model.info?.version !== version) throw new HttpError(404, `Model "${name}" serves version ${model.info?.version ?? '(none yet)'}, not ${version}.`);
    return { model, graph: model.graphOf(name) ?? undefined, name };
  };

  /** A graph's view of the model's info: its inputs and outputs. */
  const graphInfo = (info: ModelInfo, graph: string | undefined): ModelInfo => (graph === undefined ? info : { ...info, inputs: info.graphs[graph]!.inputs, outputs: info.graphs[graph]!.outputs });

  async function infer(req: IncomingMessage, res: ServerResponse, { model, graph, name }: Target): Promise<number> {
    const header = req.headers[HEADER];
    // Held until the answer is sent (or the connection goes), whatever happens in between.
    const hold = { bytes: 0 };
    res.once('close', () => budget.give(hold.bytes));
    const parts = splitBody(await readBody(req, limit, budget, hold), Array.isArray(header) ? header[0] : header);
    const body = parseJson(parts.json);
    const now = model.current();
    if (!('model' in now)) throw Object.assign(new HttpError(503, `Model "${model.name}" is not ready: ${now.problem}.`, { 'retry-after': '5' }), { code: 'NOT_READY' });
    const running = now.model;
    const request = parseInfer(body, graphInfo(running.info, graph), { maxBatch }, parts.binary && new BinaryReader(parts.binary));
    const release = await limiter.acquire().catch((error: unknown) => Promise.reject(Object.assign(error as Error, { code: 'BUSY' })));
    let outputs: TensorMap;
    let info;
    const timer = metrics.latency.startTimer({ model: name });
    try {
      // The info of the session that ran: a swap between requests changes the next one's.
      info = running.info;
      outputs = (graph === undefined ? await running.run(request.inputs) : await running.run(request.inputs, { graph })) as TensorMap;
    } finally {
      release();
      timer();
    }
    const names = request.outputs ?? Object.keys(outputs);
    const head = { model_name: graph === undefined ? info.name : name, model_version: info.version ?? '', ...(request.id !== undefined && { id: request.id }) };
    const raw = names.filter((n) => request.binary === 'all' || request.binary.has(n));
    if (raw.length === 0) {
      json(res, 200, { ...head, outputs: names.map((n) => outputJson(n, outputs[n]!)) });
      return 200;
    }
    // The binary data extension: the JSON header, then each binary output's bytes in order.
    const described = names.map((n) => (raw.includes(n) ? { ...outputMeta(n, outputs[n]!), parameters: { binary_data_size: tensorBytes(outputs[n]!).byteLength } } : outputJson(n, outputs[n]!)));
    const text = Buffer.from(JSON.stringify({ ...head, outputs: described }));
    const chunks = [text, ...raw.map((n) => tensorBytes(outputs[n]!))];
    res.writeHead(200, { 'content-type': 'application/octet-stream', [HEADER]: String(text.length), 'content-length': chunks.reduce((a, c) => a + c.byteLength, 0) });
    for (const chunk of chunks) res.write(chunk);
    res.end();
    return 200;
  }

  function metadata({ model, graph, name }: Target) {
    const whole = model.info;
    if (!whole) throw new HttpError(503, `Model "${model.name}" is not ready: ${String((model.current() as { problem?: string }).problem)}.`);
    const info = graphInfo(whole, graph);
    const tensors = (specs: typeof info.inputs) => specs.map((s) => ({ name: s.name, datatype: datatypeOf(s.type), shape: shapeOf(s.dims) }));
    return { name: graph === undefined ? info.name : name, versions: [info.version ?? ''], platform: info.runtime === 'onnx' ? 'onnxruntime_onnx' : 'tensorflow_js', inputs: tensors(info.inputs), outputs: tensors(info.outputs) };
  }

  async function route(req: IncomingMessage, res: ServerResponse, path: string): Promise<number> {
    const method = req.method ?? 'GET';
    const allow = (methods: string) => {
      if (!methods.split(',').includes(method)) throw new HttpError(405, `${path} takes ${methods}, not ${method}.`, { allow: methods });
    };
    if (path === '/v2/health/live') {
      allow('GET,HEAD');
      return json(res, 200, { live: true }), 200;
    }
    if (path === '/v2/health/ready') {
      allow('GET,HEAD');
      const ready = served.every((m) => 'model' in m.current());
      return json(res, ready ? 200 : 503, { ready }), ready ? 200 : 503;
    }
    if (options.token !== undefined && !bearerMatches(req.headers.authorization, options.token)) {
      throw new HttpError(401, 'This server needs "Authorization: Bearer <token>".', { 'www-authenticate': 'Bearer' });
    }
    if (path === '/metrics') {
      allow('GET');
      const text = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text);
      return 200;
    }
    if (path === '/v2') {
      allow('GET');
      return json(res, 200, { name: 'ondevice', version: '1', extensions: ['binary_tensor_data'] }), 200;
    }
    const match = MODEL_ROUTE.exec(path);
    if (!match) throw new HttpError(404, `No route ${path}: the server speaks the Open Inference Protocol (/v2/...).`);
    const target = find(decoded(match[1]!), match[2] && decoded(match[2]));
    if (match[3] === '/ready') {
      allow('GET,HEAD');
      const ready = 'model' in target.model.current();
      return json(res, ready ? 200 : 503, { name: target.name, ready }), ready ? 200 : 503;
    }
    if (match[3] === '/infer') {
      allow('POST');
      try {
        return await infer(req, res, target);
      } catch (error) {
        const code = error instanceof HttpError ? ((error as { code?: string }).code ?? (error.status === 400 ? 'BAD_REQUEST' : `HTTP_${error.status}`)) : toOndeviceError(error).code;
        metrics.failures.inc({ model: target.name, code });
        throw error;
      }
    }
    allow('GET');
    return json(res, 200, metadata(target)), 200;
  }

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (options.cors) {
      res.setHeader('access-control-allow-origin', options.cors);
      res.setHeader('vary', 'Origin');
      // The binary data extension's header, readable by the page (and sendable, below).
      res.setHeader('access-control-expose-headers', HEADER);
      if (req.method === 'OPTIONS') {
        res.writeHead(204, { 'access-control-allow-methods': 'GET, POST', 'access-control-allow-headers': `authorization, content-type, ${HEADER}`, 'access-control-max-age': '600' }).end();
        return;
      }
    }
    let status: number;
    metrics.inFlight.inc();
    try {
      status = await route(req, res, path);
    } catch (error) {
      status = error instanceof HttpError ? error.status : 500;
      if (error instanceof HttpError) json(res, error.status, { error: error.message }, error.headers);
      else {
        // A run failure (or our bug): the error's code, never a stack.
        const e = toOndeviceError(error);
        const clientFault = e.code === 'INPUT_INVALID';
        status = clientFault ? 400 : 500;
        json(res, status, { error: e.message, code: e.code });
      }
    } finally {
      metrics.inFlight.dec();
    }
    metrics.requests.inc({ route: routeLabel(path), status: String(status) });
  };

  // Node checks request and header timeouts on this interval (30 s by default, which would let a
  // slow client hold a connection far past --timeout).
  const server = createServer({ connectionsCheckingInterval: Math.max(250, Math.min(timeoutMs / 4, 5_000)) }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      log(`internal error: ${error instanceof Error ? error.stack : String(error)}`);
      if (!res.headersSent) json(res, 500, { error: 'Internal server error.' });
      else res.destroy();
    });
  });
  server.requestTimeout = timeoutMs;
  server.headersTimeout = Math.min(timeoutMs, 60_000);
  server.maxConnections = options.maxConnections ?? 256;
  // Idle keep-alive connections must not hold a shutdown open.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, options.host ?? '127.0.0.1', () => resolve());
  });
  // Listening first: a slow or hanging model host delays readiness, never the server (a warm cache serves at once).
  const started = Promise.all(served.map((m) => m.start()));
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    server,
    models: served,
    metrics,
    started,
    buffered: () => budget.held,
    async close() {
      // Requests in flight finish first; a model still loading has its request to the host aborted.
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await Promise.all(served.map((m) => m.close()));
    },
  };
}

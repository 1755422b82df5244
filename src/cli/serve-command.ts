/** @file `ondevice serve`: options → the server (src/serve/) → until SIGTERM or SIGINT, then a graceful close. */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { backendOrder } from '../backend/select.js';
import { toOndeviceError } from '../errors.js';
import { MAX_TIMER_SECONDS, startServer, type ServeOptions } from '../serve/server.js';
import type { BackendPreference } from '../types.js';
import { CliError } from './cli-error.js';

export const SERVE_HELP = `usage: ondevice serve <manifest-url | path> [--model <manifest>]... [options]

Serves the release's model over HTTP in the Open Inference Protocol (KServe v2 REST: Triton, KServe
and MLServer clients work unchanged), from the same manifest, cache rules and checks as the
browsers: GET /v2/health/live, /v2/health/ready, /v2/models/<name>, /v2/models/<name>/ready,
POST /v2/models/<name>/infer (JSON, or the binary tensor data extension), and GET /metrics
(Prometheus).

  --model <manifest>         one more model to serve (repeatable)
  --port <n>                 default 8080 (0: any free port)
  --host <address>           default 127.0.0.1 (this machine only); 0.0.0.0 for every interface
  --cache-dir <dir>          default $ONDEVICE_CACHE_DIR, else the user cache directory
  --update-interval <s>      ask the host for a new version every <s> seconds (default 300; 0: never)
  --backend <b>              cpu, cuda, dml, coreml, or a comma-separated list (default auto)
  --variant <name>           the manifest variant to serve (default auto)
  --public-key <file.jwk>    serve only releases signed with this key
  --token <t>                every request but the health checks needs "Authorization: Bearer <t>"
                             (or set ONDEVICE_SERVE_TOKEN)
  --cors <origin>            let pages from <origin> call the server (off by default)
  --max-body <size>          largest request body, e.g. 32mb (default), 512kb, 1048576
  --max-batch <n>            largest size of an input's free dimension, such as its batch
                             (default 1024); larger is 413
  --max-buffered <size>      request bytes held at once across all requests, a body counting
                             twice (its bytes, then its tensors) (default 256mb); beyond it, 503
  --max-connections <n>      open connections (default 256); more are closed as they arrive
  --max-concurrent <n>       runs at once (default 4); more wait in a queue
  --max-queue <n>            requests that may wait (default 64); more get 503
  --timeout <s>              how long a request may take to arrive or wait for a run (default 30)
  --host-timeout <s>         how long the model host may take to answer (default 30)

Times are whole seconds up to ${MAX_TIMER_SECONDS} (24.8 days, what Node's timers hold).

It stops on SIGTERM or SIGINT, letting requests in flight finish.`;

function size(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i.exec(value.trim());
  if (!m) throw new CliError(`${flag} must be a size like 32mb, 512kb or 1048576; got "${value}"`, 2);
  const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(m[2] ?? 'b').toLowerCase() as 'b'];
  return Math.floor(Number(m[1]) * unit);
}

function count(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new CliError(`${flag} must be an integer ≥ ${min}; got "${value}"`, 2);
  return n;
}

/** Seconds, within what Node's timers hold. */
function seconds(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > MAX_TIMER_SECONDS) throw new CliError(`${flag} must be whole seconds between ${min} and ${MAX_TIMER_SECONDS} (24.8 days); got "${value}"`, 2);
  return n;
}

function backend(value: string | undefined): BackendPreference | undefined {
  if (value === undefined) return undefined;
  const list = value.split(',').map((b) => b.trim());
  try {
    backendOrder(list as BackendPreference);
  } catch (error) {
    throw new CliError(toOndeviceError(error).message.replace('Option "backend"', '--backend'), 2);
  }
  return list.length === 1 ? (list[0] as BackendPreference) : (list as BackendPreference);
}

/** Parses the command line into the server's options. */
export async function serveOptions(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<ServeOptions> {
  const { positionals, values } = parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: Object.fromEntries(
      ['port', 'host', 'cache-dir', 'update-interval', 'backend', 'variant', 'public-key', 'token', 'cors', 'max-body', 'max-batch', 'max-buffered', 'max-connections', 'max-concurrent', 'max-queue', 'timeout', 'host-timeout'].map((k) => [k, { type: 'string' as const }]).concat([['model', { type: 'string' as const, multiple: true } as never]]),
    ),
  });
  const v = values as Record<string, string | undefined> & { model?: string[] };
  const models = [...positionals, ...(v.model ?? [])];
  if (models.length === 0) throw new CliError('a manifest URL or path is required; run ondevice serve --help', 2);
  const token = v['token'] ?? env['ONDEVICE_SERVE_TOKEN'];
  if (token !== undefined && token.length < 16) throw new CliError('the token must be at least 16 characters (use e.g. `openssl rand -hex 32`)', 2);
  let publicKey: ServeOptions['publicKey'];
  if (v['public-key'] !== undefined) {
    try {
      publicKey = JSON.parse(await readFile(v['public-key'], 'utf8')) as JsonWebKey;
    } catch (error) {
      throw new CliError(`--public-key ${v['public-key']}: ${error instanceof Error ? error.message : String(error)}`, 2);
    }
  }
  const options: ServeOptions = { models };
  const set = <K extends keyof ServeOptions>(key: K, value: ServeOptions[K] | undefined) => value !== undefined && (options[key] = value);
  set('port', count(v['port'], '--port', 0));
  set('host', v['host']);
  set('cacheDir', v['cache-dir']);
  set('updateInterval', seconds(v['update-interval'], '--update-interval', 0));
  set('backend', backend(v['backend']));
  set('variant', v['variant']);
  set('publicKey', publicKey);
  set('token', token);
  set('cors', v['cors']);
  set('maxBody', size(v['max-body'], '--max-body'));
  set('maxBatch', count(v['max-batch'], '--max-batch', 1));
  set('maxBuffered', size(v['max-buffered'], '--max-buffered'));
  set('maxConnections', count(v['max-connections'], '--max-connections', 1));
  set('maxConcurrent', count(v['max-concurrent'], '--max-concurrent', 1));
  set('maxQueue', count(v['max-queue'], '--max-queue', 0));
  const timeout = seconds(v['timeout'], '--timeout', 1);
  set('timeoutMs', timeout === undefined ? undefined : timeout * 1000);
  const hostTimeout = seconds(v['host-timeout'], '--host-timeout', 1);
  set('hostTimeoutMs', hostTimeout === undefined ? undefined : hostTimeout * 1000);
  return options;
}

/** Where the command writes (the CLI's own Io). */
interface Io {
  out(text: string): void;
  err(text: string): void;
}

/** Runs the server until `stop` settles (by default, SIGTERM or SIGINT). */
export async function serveCommand(args: readonly string[], io: Io, stop?: Promise<unknown>): Promise<void> {
  const options = await serveOptions(args);
  const server = await startServer({ ...options, log: (line) => io.err(line) });
  // Listening now; each model says on stderr when it serves (ready is 503 until then).
  io.out(`listening on ${server.url}${options.token ? ' (token required)' : ''}`);
  await (stop ??
    new Promise<void>((resolve) => {
      process.once('SIGTERM', () => resolve());
      process.once('SIGINT', () => resolve());
    }));
  io.err('stopping: finishing the requests in flight');
  await server.close();
  // Every request has its answer; what may still wait is an update check on a model host that hangs,
  // which would hold the process until --host-timeout. A signalled server ends now.
  if (!stop) process.exit(0);
}

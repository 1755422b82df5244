/**
 * @file `transformersCache`'s logic, the same in the browser and in Node: transformers.js asks its
 * custom cache for each file of a model by two keys (its local path `/models/<repo>/<file>` and its
 * remote URL `<host>/<repo>/resolve/<revision>/<file>`); a repo the app mapped to a release is
 * answered from that release, one version per cache object, and never from anywhere else.
 */
import { OndeviceError, isOndeviceError, toOndeviceError } from './errors.js';
import { loadRequest } from './load-model.js';
import { graphOf } from './manifest/repo-files.js';
import type { LoadRequest, ModelHost, ReleaseFiles } from './pipeline/host.js';
import { readReleaseFile } from './pipeline/release-files.js';
import { renameExternalData } from './runtime/onnx-external.js';
import type { LoadOptions } from './types.js';

/** What `transformersCache` hears when a newer version of a repo's release is ready, or the served one is revoked. */
export interface TransformersUpdateInfo {
  /** The repo id, as the app mapped it (`'acme/tiny-bert'`). */
  repo: string;
  /** The version now active in the cache (the next `transformersCache()` serves it); when `revoked`, the version served until now. */
  version: string;
  /** The version this cache object serves. */
  previousVersion: string;
  /** The served version was revoked by its publisher: this cache object answers no more of its files; make a new one. */
  revoked: boolean;
}

/** Options of `transformersCache`: which repos come from which release, and the update rules of `loadModel`. */
export interface TransformersCacheOptions extends Pick<LoadOptions, 'update' | 'version' | 'publicKey' | 'signal' | 'maxCacheBytes' | 'storage'> {
  /**
   * transformers.js repo ids and the manifest URL of the release published from each repo's folder.
   * Any other repo is left to transformers.js (the cache answers `undefined`).
   * @example models: { 'acme/tiny-bert': 'https://cdn.example.com/models/tiny-bert/manifest.json' }
   */
  models: Readonly<Record<string, string | URL>>;
  /**
   * The variant resolved when transformers.js first asks for a file that is not a graph (its
   * `config.json`); a graph file names its own variant (`onnx/model_quantized.onnx` is `int8`).
   * @default transformers.js's own default here: 'int8' in a browser (its WASM default, q8), 'fp32' in Node; the release's first variant if it lacks that one
   */
  variant?: string;
  /** Called with each progress event of a release's resolve (manifest, download, verify). @default none */
  onProgress?: LoadOptions['onProgress'];
  /**
   * Called once a newer version of a repo's release is downloaded, verified and active in the cache,
   * or when the version served is revoked.
   * @default none
   * @example onUpdate: ({ repo, version }) => showToast(`${repo} ${version} is ready: reload to use it`)
   */
  onUpdate?: (info: TransformersUpdateInfo) => void;
  /**
   * Called when a file of a mapped repo cannot be served (offline with nothing cached, a forged
   * manifest, a revoked version): transformers.js then gets an error `Response`, never a request
   * elsewhere, and fails with its own message; this says why.
   * @default console.error
   */
  onError?: (error: OndeviceError, request: { repo: string; file: string }) => void;
}

/** The interface transformers.js's `env.customCache` takes (the part of the Cache API it calls). */
export interface TransformersCache {
  /** The release's file for a mapped repo's key; a 404 `Response` for a file the release lacks; `undefined` for any other repo. */
  match(request: string | URL | Request): Promise<Response | undefined>;
  /** Does nothing: a mapped repo's files come only from its release, and others are not ours to keep. */
  put(request: string | URL | Request, response: Response): Promise<void>;
  /**
   * The version this object serves for a mapped repo: pinned by the first file it served (`undefined`
   * before, or for a repo not in `models`).
   * @example cache.version('acme/tiny-bert') // '1.0.0'
   */
  version(repo: string): string | undefined;
}

interface Repo {
  id: string;
  request: LoadRequest;
  /** The version this cache object serves, pinned by its first resolve. */
  pinned?: string;
  revoked?: boolean;
  variants: Map<string, Promise<ReleaseFiles>>;
}

/** What a file of a repo is in its release. */
type Wanted = { kind: 'graph'; graph: string; variant: string; part: number } | { kind: 'asset'; name: string } | { kind: 'none' };

/** `onnx/<graph>[suffix].onnx` (part 0), its `.onnx_data` (part 1) and `.onnx_data_N` (part N + 1); a top-level file is an asset. */
export function wantedFile(file: string): Wanted {
  const graph = /^onnx\/([^/]+)\.onnx(?:_data(?:_(\d+))?)?$/i.exec(file);
  if (graph) {
    const isData = /\.onnx_data/i.test(file);
    const part = isData ? Number(graph[2] ?? 0) + 1 : 0;
    return { kind: 'graph', ...graphOf(`${graph[1]}.onnx`), part };
  }
  return file.includes('/') || file === '' ? { kind: 'none' } : { kind: 'asset', name: file };
}

/** The mapped repo and file a transformers.js key names, by either of its forms; `undefined` for any other repo. */
export function locate(key: string, repos: readonly string[]): { repo: string; file: string } | undefined {
  const path = key.split(/[?#]/)[0]!;
  // Longest id first: `acme/bert-large` is not `acme/bert`.
  for (const repo of [...repos].sort((a, b) => b.length - a.length)) {
    const at = path.startsWith(`${repo}/`) ? 0 : path.indexOf(`/${repo}/`) + 1;
    if (at === 0 && !path.startsWith(`${repo}/`)) continue;
    let rest = path.slice(at + repo.length + 1);
    // The remote form: <repo>/resolve/<revision>/<file> (transformers.js encodes the revision as one segment).
    const remote = /^resolve\/[^/]+\/(.+)$/.exec(rest);
    if (remote) rest = remote[1]!;
    try {
      return { repo, file: decodeURIComponent(rest) };
    } catch {
      return { repo, file: rest };
    }
  }
  return undefined;
}

const TYPES: Record<string, string> = { json: 'application/json', txt: 'text/plain', onnx: 'application/octet-stream' };

/** The body streams from the store (transformers.js reads `content-length` for its progress). */
function fileResponse(body: ReadableStream<Uint8Array> | Uint8Array, size: number, file: string): Response {
  const type = TYPES[file.slice(file.lastIndexOf('.') + 1).toLowerCase()] ?? 'application/octet-stream';
  return new Response(body as ReadableStream<Uint8Array<ArrayBuffer>>, { status: 200, headers: { 'content-type': type, 'content-length': String(size) } });
}

/** Not JSON on purpose: transformers.js reads a cache's answer as the file, so its JSON.parse fails and quotes this text. */
function errorResponse(status: number, text: string): Response {
  return new Response(`ondevice: ${text}`, { status, statusText: status === 404 ? 'Not Found' : 'Service Unavailable', headers: { 'content-type': 'text/plain' } });
}

type IdleScope = { requestIdleCallback?: (task: () => void, options: { timeout: number }) => unknown };

/**
 * Runs `task` once the thread is idle (at most 2 s on), where the platform says when (a page in
 * Chromium and Firefox), else on the next turn: the background check of a cached start asks the host
 * after transformers.js has built its pipeline, not in the middle of it.
 */
function whenIdle(task: () => void): void {
  const scope = globalThis as IdleScope;
  if (typeof scope.requestIdleCallback === 'function') scope.requestIdleCallback(task, { timeout: 2000 });
  else setTimeout(task, 0);
}

/** Builds the cache on a model host (the page's or worker's own in a browser, the disk cache's in Node). */
export function createTransformersCache(host: () => ModelHost | Promise<ModelHost>, options: TransformersCacheOptions, defaultVariant: string): TransformersCache {
  if (options === null || typeof options !== 'object' || options.models === null || typeof options.models !== 'object') {
    throw new OndeviceError('INPUT_INVALID', 'transformersCache needs { models: { "<repo id>": "<manifest URL>" } }.', { details: { input: 'models' } });
  }
  const repos = new Map<string, Repo>();
  for (const [id, url] of Object.entries(options.models)) {
    if (!/^[\w.-]+(\/[\w.-]+)?$/.test(id)) {
      throw new OndeviceError('INPUT_INVALID', `transformersCache: "${id}" is not a repo id as transformers.js names models ("name" or "owner/name").`, { details: { input: 'models', actual: id } });
    }
    const { update, version, publicKey, maxCacheBytes, storage } = options;
    const rules = { ...(update && { update }), ...(version !== undefined && { version }), ...(publicKey && { publicKey }), ...(maxCacheBytes !== undefined && { maxCacheBytes }), ...(storage && { storage }) };
    // WASM only: the variant is named (no device probe needed), and no backend starts here.
    repos.set(id, { id, request: loadRequest(url, { ...rules, variant: options.variant ?? defaultVariant, backend: ['wasm'] }), variants: new Map() });
  }
  const ids = [...repos.keys()];
  const onError = options.onError ?? ((error: OndeviceError, at: { repo: string; file: string }) => console.error(`ondevice transformersCache: ${at.repo}/${at.file}: ${error.message}`));

  /** A variant of the repo's release, at the pinned version once there is one; each resolved once per cache object. */
  const release = (repo: Repo, variant: string): Promise<ReleaseFiles> => {
    if (!repo.variants.has(variant)) {
      const request: LoadRequest = { ...repo.request, variant, ...(repo.pinned && { version: repo.pinned, update: 'never' }) };
      const controls = { signal: options.signal, onProgress: options.onProgress };
      const others = [...repo.variants.values()];
      const resolving = (async () => {
        // The cache keeps one variant per version: the variants served so far keep their graphs in
        // memory before this one's activation lets the store collect them.
        await Promise.all(others.map((other) => other.then((f) => f.hold()).catch(() => undefined)));
        const files = await (await host()).files(request, controls);
        if (repo.pinned === undefined) {
          repo.pinned = files.version;
          if (repo.request.update === 'background' && !files.asked) whenIdle(() => void check(repo, files.version));
        }
        return files;
      })();
      repo.variants.set(variant, resolving);
      // A failed resolve is forgotten: the next request tries again.
      resolving.catch(() => repo.variants.delete(variant));
    }
    return repo.variants.get(variant)!;
  };

  /** The first variant asked (or the default, or the release's first if it lacks the default) serves the assets. */
  const anyVariant = async (repo: Repo): Promise<ReleaseFiles> => {
    const first = repo.variants.values().next();
    if (!first.done) return first.value;
    try {
      return await release(repo, repo.request.variant);
    } catch (error) {
      if (!isOndeviceError(error, 'INPUT_INVALID') || error.details['input'] !== 'variant') throw error;
      const offered = error.details['expected'];
      return release(repo, Array.isArray(offered) && typeof offered[0] === 'string' ? offered[0] : 'auto');
    }
  };

  const check = async (repo: Repo, running: string) => {
    try {
      const result = await (await host()).checkRelease(repo.request, running);
      if (result.revoked) repo.revoked = true;
      if (result.available && result.version) options.onUpdate?.({ repo: repo.id, version: result.version, previousVersion: running, revoked: result.revoked });
      else if (result.revoked) options.onUpdate?.({ repo: repo.id, version: running, previousVersion: running, revoked: true });
    } catch {
      // Offline or a broken host: the pinned version serves on; the next cache object asks again.
    }
  };

  async function serve(repo: Repo, file: string, at: { repo: string; file: string }): Promise<Response> {
    const wanted = wantedFile(file);
    if (wanted.kind === 'none') return errorResponse(404, `${repo.id} has no file ${file} in its release`);
    const files = wanted.kind === 'graph' ? await release(repo, wanted.variant) : await anyVariant(repo);
    if (repo.revoked) throw new OndeviceError('VERSION_UNAVAILABLE', `Version ${repo.pinned} of ${repo.id} has been revoked by its publisher; make a new transformersCache() to serve the version that replaces it.`, { details: { url: repo.request.url, version: repo.pinned ?? null } });
    const entry = wanted.kind === 'graph' ? files.graphs[wanted.graph]?.[wanted.part] : files.assets[wanted.name];
    if (!entry) return errorResponse(404, `the release of ${repo.id} (${files.name} ${files.version}, ${files.variant}) has no file ${file}`);
    // A file that fails as it is read (altered in storage: its copy is deleted; or gone) rejects
    // transformers.js's read; the next request resolves the pinned version again, downloading what is missing.
    const failed = (error: OndeviceError) => {
      repo.variants.clear();
      onError(error, at);
    };
    const graphFiles = wanted.kind === 'graph' ? files.graphs[wanted.graph]! : [];
    if (wanted.kind === 'graph' && wanted.part === 0 && graphFiles.length > 1) {
      // Its external data: published under content-hashed names, asked for by transformers.js as
      // `<file>_data`, `<file>_data_1`, … (in the release's order); the graph names them so.
      const asked = file.slice(file.lastIndexOf('/') + 1);
      const renamed = new Map(graphFiles.slice(1).map((f, i) => [f.path.slice(f.path.lastIndexOf('/') + 1), `${asked}_data${i === 0 ? '' : `_${i}`}`]));
      const bytes = renameExternalData(await readReleaseFile(entry, failed), renamed, file);
      return fileResponse(bytes, bytes.length, file);
    }
    return fileResponse(entry.held() ?? entry.open(failed), entry.size, file);
  }

  return {
    async match(request) {
      const key = typeof request === 'string' ? request : request instanceof URL ? request.href : request.url;
      const at = locate(key, ids);
      if (!at) return undefined;
      try {
        return await serve(repos.get(at.repo)!, at.file, at);
      } catch (error) {
        const failure = toOndeviceError(error);
        onError(failure, at);
        return errorResponse(failure.code === 'INPUT_INVALID' ? 404 : 503, `${at.repo}/${at.file}: ${failure.code}: ${failure.message}`);
      }
    },
    async put() {
      // Nothing to keep: mapped repos come from their releases only.
    },
    version: (repo) => repos.get(repo)?.pinned,
  };
}

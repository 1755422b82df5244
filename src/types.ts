/** @file The public data types: tensors, load options, progress events and model info. */
import type { OndeviceError } from './errors.js';

/**
 * Where a model runs. In browsers: `'webgpu'`, `'wasm'`, `'webgl'`, `'cpu'` (TF.js). In Node
 * (`ondevice/node`): onnxruntime-node's execution providers, `'cpu'`, and `'cuda'`, `'dml'` (DirectML,
 * Windows), `'coreml'` (macOS) where the machine has them.
 */
export type Backend = 'webgpu' | 'wasm' | 'webgl' | 'cpu' | 'cuda' | 'dml' | 'coreml';

/** `'auto'`, `'fastest'` (measured on this device, remembered), one backend, or an ordered list of backends to try. */
export type BackendPreference = 'auto' | 'fastest' | Backend | readonly Backend[];

/** Element types a tensor may have, with the typed array that holds each. */
export interface TensorDataTypes {
  float32: Float32Array;
  float64: Float64Array;
  /** IEEE half floats, as their raw 16-bit patterns. */
  float16: Uint16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  int16: Int16Array;
  uint16: Uint16Array;
  int32: Int32Array;
  uint32: Uint32Array;
  int64: BigInt64Array;
  uint64: BigUint64Array;
  /** One byte per element, 0 or 1. */
  bool: Uint8Array;
  /** A plain array of strings (ONNX `string` tensors: tokenizers, labels, `StringNormalizer`); copied, not transferred, across the worker boundary. */
  string: string[];
}

export type TensorType = keyof TensorDataTypes;

/**
 * A tensor as it crosses the API: element type, a typed array in row-major order, and its shape.
 *
 * @example { type: 'float32', data: new Float32Array(64), dims: [1, 1, 8, 8] }
 */
export type Tensor = {
  [T in TensorType]: { type: T; data: TensorDataTypes[T]; dims: readonly number[] };
}[TensorType];

/** Tensors by input or output name. */
export type TensorMap = Record<string, Tensor>;

/**
 * An output kept where the model runs (`run(…, { keep })`): in the worker, and on WebGPU as a GPU
 * buffer where onnxruntime-web allows. Its data never crossed to this thread. Pass it as an input of
 * any later run of any graph of the same loaded model; `model.read(ref)` fetches its data.
 */
export interface TensorRef {
  readonly type: TensorType;
  readonly dims: readonly number[];
  readonly kept: true;
  /** Where its data stays: `'gpu-buffer'` on WebGPU for a release of several graphs (reading it downloads it), else `'cpu'` (the worker's memory, or onnxruntime-node's). */
  readonly location: 'cpu' | 'gpu-buffer';
  /**
   * Frees it where it lives: with the model's next call, or on its own a moment later (a decode loop
   * that disposes each step's cache sends no message for it). Safe to call twice; a disposed ref is
   * refused as an input at once. `model.dispose()` and `reload()` free every ref.
   */
  dispose(): Promise<void>;
}

/** Inputs of a run: tensors with data, or refs kept by earlier runs of the same model. */
export type RunInputs = Record<string, Tensor | TensorRef>;

/** Outputs of a run: tensors with data, and a `TensorRef` for each output kept. */
export type RunOutputs = Record<string, Tensor | TensorRef>;

/** How `run()` runs: which graph, and which outputs stay where the model runs. */
export interface RunOptions {
  /**
   * The graph to run, by the name in `info.graphs`.
   * @default the first graph (the only one of a single-graph release)
   * @example { graph: 'decoder_model' }
   */
  graph?: string;
  /**
   * Outputs to keep where the model runs, as `TensorRef`s: `true` for all, or their names. The
   * others come back with their data.
   * @default none
   * @example { keep: ['present.0.key', 'present.0.value'] }
   */
  keep?: boolean | readonly string[];
}

/**
 * A greedy decode loop run where the model runs (`model.generate()`): one call for the whole
 * sequence, so no step crosses the worker boundary. Each step's token is the highest score at the
 * last position of `token.output`, fed to the next step as `token.input` (`[1, 1]`); the outputs
 * named in `feed` (the key/value cache) stay where the model runs and are fed back as inputs; every
 * other input of the step graph keeps the value given to the first step.
 *
 * @example
 * // The transformers.js / Optimum layout: decoder_model starts, decoder_with_past_model continues.
 * const tokens = await model.generate({ input_ids: bos, encoder_hidden_states: enc.last_hidden_state }, {
 *   graph: 'decoder_model', nextGraph: 'decoder_with_past_model',
 *   feed: { 'past_key_values.0.key': 'present.0.key', 'past_key_values.0.value': 'present.0.value' },
 *   eos: 2, maxTokens: 32, onToken: (id) => show(id),
 * });
 */
export interface GenerateOptions {
  /**
   * A graph run once before the first step, in the same call (an encoder–decoder's encoder): its
   * outputs that `encoder.feed` names stay where the model runs, are given to every step whose graph
   * takes them, and are freed when the loop ends. One call then does a whole sequence, where an
   * encoder run with `keep` and `generate()` would be two.
   * @example { graph: 'encoder_model', inputs: { input_ids: source }, feed: { encoder_hidden_states: 'last_hidden_state' } }
   */
  encoder?: GenerateEncoder;
  /**
   * The graph of the first step.
   * @default the first graph
   */
  graph?: string;
  /**
   * The graph of every later step.
   * @default `graph` (a decoder whose past inputs the first step is given, e.g. empty)
   */
  nextGraph?: string;
  /**
   * Each later step's inputs fed from the last step's outputs, as `{ input: output }`: the cache,
   * which never leaves where the model runs. Every output named must be an output of both graphs.
   * @example { 'past_key_values.0.key': 'present.0.key' }
   */
  feed: Readonly<Record<string, string>>;
  /**
   * Where the token comes from and goes: the output whose last position is scored (its last
   * dimension is the vocabulary), and the input it is fed to, as a `[1, 1]` tensor of that
   * input's integer type.
   * @default { output: 'logits', input: 'input_ids' }
   */
  token?: { output?: string; input?: string };
  /** At most this many tokens (a positive integer): the loop runs once per token. */
  maxTokens: number;
  /**
   * Token ids that end the sequence; the one met is not returned.
   * @default none: the loop runs `maxTokens` steps
   */
  eos?: number | readonly number[];
  /**
   * An input of the step graph that is an attention mask of shape `[1, n]`, given to the first
   * step: each later step gets it one position longer, the new position 1.
   */
  attentionMask?: string;
  /** Called with each token as it is chosen, before the next step ends (for streaming text). */
  onToken?: (token: number, index: number) => void;
  /** Stops the loop between two steps: the call rejects with `ABORTED`, and nothing it kept is left behind. */
  signal?: AbortSignal;
}

/** `GenerateOptions.encoder`: the graph run once before the loop, and what its outputs feed. */
export interface GenerateEncoder {
  /** The graph, e.g. `'encoder_model'`. */
  graph: string;
  /** Its inputs, checked as `run()` checks a graph's inputs (a `TensorRef` is accepted). */
  inputs: RunInputs;
  /**
   * Which of its outputs each step is given, as `{ input: output }`; each input must be one the
   * steps' graphs take and the call's inputs do not already give.
   * @example { encoder_hidden_states: 'last_hidden_state' }
   */
  feed: Readonly<Record<string, string>>;
}

/** One graph of a loaded model: what it takes and gives. */
export interface GraphInfo {
  inputs: readonly TensorSpec[];
  outputs: readonly TensorSpec[];
}

/** A file that versions with the weights (tokenizer, config), as `info.assets` lists it. */
export interface AssetInfo {
  name: string;
  size: number;
}

/** An input or output as the model declares it. Named dimensions (`'batch'`) are free. */
export interface TensorSpec {
  name: string;
  type: string;
  dims: ReadonlyArray<number | string>;
  /**
   * Other names `run()` accepts for this input: a TF.js graph model's signature key and its tensor
   * name (`image:0`), as model.json writes them. Outputs always come back under `name`.
   */
  aliases?: readonly string[];
}

/** A backend (or a variant on a backend) that was tried or skipped before what runs, and why. */
export interface BackendFallback {
  backend: Backend;
  /** Set when a variant was passed over on this backend (e.g. fp16 without `shader-f16`). */
  variant?: string;
  reason: string;
}

/** What a loaded model is and how it runs: name, version, variant, runtime, backend and why others were skipped, inputs, outputs. */
export interface ModelInfo {
  /** The manifest's `name`, or the file name for a bare model URL. */
  name: string;
  /** The manifest's `version`, or the model file's ETag for a bare URL (`null` without one). */
  version: string | null;
  /** The manifest variant that was loaded (`null` for a bare model URL). */
  variant: string | null;
  runtime: 'onnx' | 'tfjs-layers' | 'tfjs-graph';
  /** The backend that runs the model. */
  backend: Backend;
  /** Backends tried or skipped before `backend`, in order, each with the reason. */
  fallbacks: readonly BackendFallback[];
  /** Whether the model's bytes came from the device's cache rather than the network. */
  fromCache: boolean;
  /** The default graph's inputs and outputs (the first graph's, in a release with several). */
  inputs: readonly TensorSpec[];
  outputs: readonly TensorSpec[];
  /**
   * Every graph, by name, in the manifest's order (the first is the default). A single-graph release
   * has one entry, named `model`.
   */
  graphs: Readonly<Record<string, GraphInfo>>;
  /** The release's assets (tokenizer, config, …), read with `model.asset(name)`; `[]` when there are none. */
  assets: readonly AssetInfo[];
  /** The manifest's `metadata` (labels, …); `{}` for a bare model URL. */
  metadata: Readonly<Record<string, unknown>>;
  /** The absolute URL the model was loaded from. */
  url: string;
  /**
   * With `backend: 'fastest'`: the median ms a run took on each backend measured, and whether the
   * choice was remembered from an earlier load (same version, variant and device) rather than measured now.
   */
  tuning?: { measured: Partial<Record<Backend, number>>; fromCache: boolean };
  /**
   * The host's manifest is a staged rollout (`ondevice rollout`) and this load asked the host:
   * `included` says whether this device takes the new version (its bucket is under `percent`).
   */
  rollout?: { percent: number; included: boolean };
}

/**
 * Progress of a load, as a discriminated union on `phase`.
 * Phases arrive in order: `manifest` (when the host is asked), `cache` (files read from the device) and
 * `download` + `verify` (files fetched), `compile` (once per backend tried), `ready`.
 * `download` events are throttled; `loaded` only grows, `total` stays the same for a load, and the
 * event with `loaded === total` arrives only once every byte is verified and stored (so after `verify`).
 */
export type LoadProgress =
  | { phase: 'manifest'; url: string }
  | {
      phase: 'download';
      /** The file being downloaded. */
      url: string;
      /** Bytes received so far, over all the files of the model. */
      loaded: number;
      /** Bytes expected over all files: from the manifest, else `Content-Length`; `null` if unknown. */
      total: number | null;
      /** Bytes of this file so far, and its size (`null` if unknown). */
      fileLoaded: number;
      fileTotal: number | null;
    }
  | {
      phase: 'cache';
      /** The file read from the device's cache. */
      url: string;
      /** As for `download`: bytes so far over all files (cached and downloaded), and the total. */
      loaded: number;
      total: number;
    }
  | { phase: 'verify'; url: string }
  | { phase: 'compile'; backend: Backend }
  | { phase: 'ready'; backend: Backend };

export type LoadPhase = LoadProgress['phase'];

/**
 * What a model did on this device since it loaded (or since `reload()` switched it), kept where it
 * runs; inputs and outputs are never kept, and nothing is sent anywhere.
 */
export interface ModelStats {
  /** Successful `run()` calls. */
  runs: number;
  /** Rejected `run()` calls by error code (`INPUT_INVALID` included). */
  failures: Readonly<Record<string, number>>;
  /**
   * Inference time where the model runs (in the worker: without the message to and from it), from a
   * fixed-size histogram: percentiles within 5 %, `mean` and `max` exact. All 0 before the first run.
   */
  latencyMs: { p50: number; p90: number; p99: number; mean: number; max: number };
  /** The load: its total time, and the time from each phase's first event to the next phase's. */
  load: { ms: number; phases: Partial<Record<LoadPhase, number>> };
  backend: Backend;
  variant: string | null;
  version: string | null;
  /** Kept outputs (`TensorRef`s) held where the model runs now: a number that keeps growing is a loop that forgets to `dispose()` them. */
  kept: number;
}

/** What `onUpdate` hears: a newer verified version is active in the device's cache. */
export interface UpdateInfo {
  /** The version the cache now holds as active; the next `loadModel` (or `reload()`) runs it. */
  version: string;
  /** The version this model runs now. */
  previousVersion: string | null;
  /** The running version has been revoked by its publisher: reload or load again. */
  revoked: boolean;
  /**
   * Set when a background check found the host's manifest untrustworthy (`SIGNATURE_INVALID`) or
   * stale (`MANIFEST_EXPIRED`): nothing changed, `version` is the running one. Other failed checks
   * (offline, a broken host) only set `model.lastUpdateError`.
   */
  error?: OndeviceError;
}

/** The result of `model.checkForUpdate()`. */
export interface UpdateCheckResult {
  /** A verified version other than the running one is active in the cache: `reload()` switches to it. */
  available: boolean;
  version?: string;
  /** The running version has been revoked. */
  revoked: boolean;
}

/**
 * onnxruntime-web session settings that trade start-up against run speed. Typed, and only these:
 * an untyped pass-through would tie the app to one ORT release's internals.
 */
export interface OnnxOptions {
  /**
   * Skip ORT's prepacking of MatMul and Conv weights when the session is created. Measured here on a
   * 100 MB many-tensor model: the session is created about 3× faster and with one copy of the
   * weights fewer in memory at its peak, but each run repacks what it needs, so runs of large
   * matrix products are slower. Worth it for a model loaded often and run rarely.
   * @default false
   * @example onnx: { disablePrepacking: true }
   */
  disablePrepacking?: boolean;
  /**
   * How far ORT optimises the graph when the session is created; `'disabled'` starts fastest and runs slowest.
   * @default 'all'
   * @example onnx: { graphOptimizationLevel: 'basic' }
   */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
}

/** `loadModel`'s options, each with its default and an example. */
export interface LoadOptions {
  /**
   * Backends to try, in order. `'auto'` tries WebGPU (only when a real adapter can be obtained) and
   * then WebAssembly. An explicit list is tried in the order given; the first that works is used.
   * `'fastest'` times a few runs on each available backend (zeros of the declared shapes), runs on
   * the fastest, and remembers the choice for this model version, variant and device, so only the
   * first load pays (`info.tuning` says what was measured).
   * @default 'auto'
   * @example backend: ['webgpu', 'wasm']
   */
  backend?: BackendPreference;
  /**
   * Which variant of the manifest to load. `'auto'` chooses with the backend: fp16 on WebGPU when
   * the adapter has `shader-f16`, int8 on WASM, fp32 otherwise; a variant whose `requires` a backend
   * lacks is skipped (and reported in `info.fallbacks`). A name is honoured, or the load fails.
   * @default 'auto'
   * @example variant: 'fp32'
   */
  variant?: string;
  /**
   * Run download, session creation and inference in a dedicated module Worker (`true`), in the
   * caller's thread (`false`), or in a Worker the app created that imports `ondevice/worker`.
   * @default true where `Worker` exists, else false
   * @example worker: new Worker(new URL('./ml-worker.js', import.meta.url), { type: 'module' })
   */
  worker?: boolean | Worker;
  /**
   * Called with each progress event of the load.
   * @default none
   * @example onProgress: (e) => { if (e.phase === 'download' && e.total) bar.value = e.loaded / e.total; }
   */
  onProgress?: (event: LoadProgress) => void;
  /**
   * When to ask the model host for a newer version. `'background'` (stale-while-revalidate): a cached
   * version starts at once with no network on the critical path, then one conditional request
   * checks for a newer version, which downloads and verifies in the background (`onUpdate` fires;
   * the running model is never swapped). `'blocking'`: ask first, download if newer, then start;
   * offline or host errors fall back to the cached version. `'never'`: once cached, no network.
   * @default 'background'
   * @example update: 'blocking' // a kiosk that must run the newest version, or the cached one when offline
   */
  update?: 'background' | 'blocking' | 'never';
  /**
   * The versions the app accepts, as an npm-style semver range. A version outside it is never
   * activated or run. Applies to manifests (a bare model URL is versioned by its ETag).
   * @default any version
   * @example version: '^1.2.0'
   */
  version?: string;
  /**
   * Called once a newer version is downloaded, verified and active in the cache (from this tab or
   * another), or when the running version is revoked. `model.reload()` switches to it.
   * @default none
   * @example onUpdate: ({ version }) => showToast(`Model ${version} is ready`)
   */
  onUpdate?: (info: UpdateInfo) => void;
  /**
   * The most bytes the library's cache may hold. Before a download that would not fit (in this
   * budget or in the browser's quota), least-recently-used other models are evicted; if it still
   * does not fit, the load fails early with `QUOTA_EXCEEDED`.
   * @default no limit but the browser's quota
   * @example maxCacheBytes: 500 * 1024 * 1024
   */
  maxCacheBytes?: number;
  /**
   * Ask the browser to make the origin's storage persistent (`navigator.storage.persist()`), so the
   * cached model is not evicted under storage pressure. The browser may say no; loading goes on.
   * @default false
   * @example persist: true
   */
  persist?: boolean;
  /**
   * How downloads retry. Network errors, 5xx, 429 (after its Retry-After) and stalls are retried
   * with exponential backoff and jitter, resuming with `Range` where the server allows; other 4xx
   * are not retried.
   * @default { retries: 5, baseDelayMs: 500, maxDelayMs: 10_000, stallTimeoutMs: 15_000 }
   * @example retry: { retries: 2, stallTimeoutMs: 5_000 }
   */
  retry?: { retries?: number; baseDelayMs?: number; maxDelayMs?: number; stallTimeoutMs?: number };
  /**
   * The app's own sink for `model.stats()`, for apps that ship their own analytics: called after a
   * run once 100 runs or 30 seconds have passed since the last call. The library sends nothing itself.
   * @default none
   * @example onStats: (s) => myAnalytics.record('model', { p50: s.latencyMs.p50, failures: s.failures })
   */
  onStats?: (stats: ModelStats) => void;
  /**
   * Cancels the load, downloads included; the promise rejects with `ABORTED`.
   * @default none
   * @example signal: AbortSignal.timeout(30_000)
   */
  signal?: AbortSignal;
  /**
   * Run only releases signed by one of these keys (ECDSA P-256 public JWKs from `ondevice keygen`;
   * a list for key rotation). Every manifest the device acts on must verify, the cached one included,
   * or the load fails with `SIGNATURE_INVALID` and nothing is downloaded or activated; a verified
   * version already on the device keeps running. Needs WebCrypto (a secure context). A JWK with a
   * private part is refused (`INPUT_INVALID`).
   * @default none: manifests are not checked
   * @example publicKey: { kty: 'EC', crv: 'P-256', x: '…', y: '…' }
   */
  publicKey?: JsonWebKey | readonly JsonWebKey[];
  /**
   * Where the cache keeps the bytes of files this load downloads. `'auto'`: the origin private file
   * system (OPFS) where this context can write it, read back through a sync handle in the worker
   * (about 3–5× faster than IndexedDB on a warm load), else IndexedDB; files of 1 MiB or less (configs,
   * tokenizer files, a graph whose weights are external data) always in IndexedDB, which reads
   * one in a single request where OPFS takes three. `'indexeddb'`: always
   * IndexedDB. `'opfs'`: only OPFS; where it cannot be written, files are not cached at all.
   * Files already cached are read from wherever they were stored. The cache's records are always in IndexedDB.
   * @default 'auto'
   * @example storage: 'indexeddb' // keep every byte in IndexedDB
   */
  storage?: 'auto' | 'opfs' | 'indexeddb';
  /**
   * onnxruntime-web session settings (ONNX models only; a TF.js model ignores them).
   * @default {}
   * @example onnx: { disablePrepacking: true } // a large model loaded often and run rarely
   */
  onnx?: OnnxOptions;
}

/** A loaded model: `run()` it, read its `info` and `stats()`, check for and switch to updates, `dispose()` it. */
export interface Model {
  /** What runs now; changes only on `reload()`. */
  readonly info: ModelInfo;
  /**
   * Why the last update of this model could not be had, or `null` if it went well (or none ran yet):
   * a background check that failed (host down, a file that failed to download, verify or fit), a
   * blocking load that started the cached version instead of a newer one, or a new version whose
   * bytes no runtime accepts (the previous one runs). The running model is unaffected.
   */
  readonly lastUpdateError: OndeviceError | null;
  /**
   * Runs the model. In worker mode the inputs' buffers are transferred to the worker (the caller's
   * arrays are detached afterwards; pass `data.slice()` to keep a copy). Outputs arrive by name.
   */
  run(inputs: TensorMap): Promise<TensorMap>;
  /**
   * Runs one graph, with some inputs given as refs kept by earlier runs, and keeps the outputs named
   * in `keep` where the model runs (a decode loop's key/value cache never crosses to this thread).
   * `INPUT_INVALID` for an unknown graph or output, and a ref that was disposed, is another model's,
   * or predates a `reload()`. TF.js models have one graph and refuse `keep`.
   *
   * @example
   * const enc = await model.run({ input_ids }, { graph: 'encoder_model', keep: true });
   * const step = await model.run({ input_ids: bos, encoder_hidden_states: enc.last_hidden_state }, { graph: 'decoder_model' });
   */
  run(inputs: RunInputs, options: RunOptions): Promise<RunOutputs>;
  /**
   * Runs a greedy decode loop where the model runs and returns the token ids it chose: one call for
   * the whole sequence, the cache kept there between steps (see `GenerateOptions`). Each step counts
   * as a run in `stats()`. `INPUT_INVALID` for a graph, input or output the options name that the
   * model lacks, and for a step input with no source (not given, fed or the token). ONNX models only.
   * A `dispose()` during the loop ends it with `DISPOSED`, a `reload()` with `ABORTED` (call it again).
   *
   * @example
   * const tokens = await model.generate({ input_ids: bos, encoder_hidden_states: hidden },
   *   { graph: 'decoder_model', nextGraph: 'decoder_with_past_model', feed, eos: 2, maxTokens: 32 });
   */
  generate(inputs: RunInputs, options: GenerateOptions): Promise<number[]>;
  /** The data of a kept output, as a tensor; the ref stays usable. */
  read(ref: TensorRef): Promise<Tensor>;
  /**
   * A file of the running version's release (tokenizer, config, …) as a `Blob`, from the device with
   * no network: it always matches the weights that run. `INPUT_INVALID` for a name not in
   * `info.assets`.
   */
  asset(name: string): Promise<Blob>;
  /**
   * Asks the host now (one conditional request); a newer accepted version is downloaded, verified
   * and activated in the cache. The running model is not switched: call `reload()` for that.
   */
  checkForUpdate(): Promise<UpdateCheckResult>;
  /** Switches to the cache's active version (no network), on a new session. No-op if it is running. */
  reload(): Promise<void>;
  /** What the model did on this device since it loaded: runs, failures by code, latency, load phases. */
  stats(): Promise<ModelStats>;
  /**
   * Releases the session; later `run` calls reject with `DISPOSED`. Safe to call twice. Resolves once
   * the model's storage writes have ended, so a Worker you passed as `worker` can be terminated then.
   * The library's own worker ends 2 s after its last model is disposed (its WebAssembly memory goes
   * back to the device then); a load in between reuses it.
   */
  dispose(): Promise<void>;
}

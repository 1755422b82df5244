/** @file The `Model` an app holds: runs (inputs checked here first), stats, updates and reloads, through its host connection. */
import type { HostConnection } from './pipeline/connection.js';
import { OndeviceError, disposedError, errorFromWire, toOndeviceError } from './errors.js';
import type { ModelEvent } from './pipeline/host.js';
import { byInputName, validateInputs } from './tensor/validate.js';
import { isTensorRef, makeRef, wireOf } from './tensor-refs.js';
import { isWireRef, type WireRunOptions, type WireTensors } from './pipeline/refs.js';
import { checkGenerate, encoderFed, type WireGenerateOptions } from './pipeline/generate.js';
import type { GenerateOptions, LoadOptions, Model, ModelInfo, ModelStats, RunInputs, RunOptions, RunOutputs, Tensor, TensorMap, TensorRef, TensorSpec, UpdateCheckResult, UpdateInfo } from './types.js';

/** A model opened on a host: its connection, its id there, and what the load said. */
export interface Opened {
  connection: HostConnection;
  id: number;
  info: ModelInfo;
  updateError: OndeviceError | null;
}

export class OndeviceModel implements Model {
  #info: ModelInfo;
  #connection: HostConnection;
  #id: number;
  #reopen: () => Promise<Opened>;
  #onUpdate: LoadOptions['onUpdate'];
  #disposed = false;
  #lastUpdateError: OndeviceError | null;
  /** Runs rejected here, before the inputs left this thread (`INPUT_INVALID`), by code. */
  #rejectedHere = new Map<string, number>();
  #onStats: LoadOptions['onStats'];
  /** Bumped by every reload(), which frees every kept output: older refs are refused. */
  #generation = 0;
  /** Refs disposed since the last call: sent with the next run, or on their own a moment later. */
  #toRelease: number[] = [];
  #releaseTimer: ReturnType<typeof setTimeout> | undefined;
  #statsDue = { runs: 0, at: performance.now() };

  constructor(opened: Opened, reopen: () => Promise<Opened>, onUpdate: LoadOptions['onUpdate'], onStats: LoadOptions['onStats']) {
    this.#connection = opened.connection;
    this.#id = opened.id;
    this.#info = opened.info;
    this.#lastUpdateError = opened.updateError;
    this.#reopen = reopen;
    this.#onUpdate = onUpdate;
    this.#onStats = onStats;
  }

  get info(): ModelInfo {
    return this.#info;
  }

  get lastUpdateError(): OndeviceError | null {
    return this.#lastUpdateError;
  }

  /** An event from the host: an update to tell the app of, or how an update check went. */
  handle(event: ModelEvent): void {
    if (this.#disposed) return;
    if (event.type === 'checked') {
      const error = event.error && toOndeviceError(errorFromWire(event.error));
      this.#lastUpdateError = error;
      // A host that cannot be trusted, or has gone stale, is news for the app; being offline is not.
      if (error && (error.code === 'SIGNATURE_INVALID' || error.code === 'MANIFEST_EXPIRED') && this.#info.version !== null) {
        const running = this.#info.version;
        this.#notify({ version: running, previousVersion: running, revoked: false, error });
      }
      return;
    }
    this.#notify(event.update);
  }

  #notify(update: UpdateInfo): void {
    try {
      this.#onUpdate?.(update);
    } catch {
      // The app's listener threw: its bug, not the library's.
    }
  }

  async checkForUpdate(): Promise<UpdateCheckResult> {
    if (this.#disposed) throw disposedError();
    return this.#connection.checkForUpdate(this.#id);
  }

  async reload(): Promise<void> {
    if (this.#disposed) throw disposedError();
    this.#generation++;
    this.#toRelease = [];
    const result = await this.#connection.reload(this.#id);
    if (result.kind === 'loaded') {
      if (result.info.version !== this.#info.version) this.#rejectedHere.clear();
      this.#info = result.info;
      return;
    }
    this.#rejectedHere.clear();
    // The new version runs on the other runtime (a release that moved from TF.js to ONNX, say).
    const opened = await this.#reopen();
    if (this.#disposed) {
      await opened.connection.dispose(opened.id).catch(() => undefined);
      opened.connection.close();
      throw disposedError();
    }
    const [old, oldId] = [this.#connection, this.#id];
    [this.#connection, this.#id, this.#info] = [opened.connection, opened.id, opened.info];
    await old.dispose(oldId).catch(() => undefined);
    old.close();
  }

  run(inputs: TensorMap): Promise<TensorMap>;
  run(inputs: RunInputs, options: RunOptions): Promise<RunOutputs>;
  async run(inputs: RunInputs, options?: RunOptions): Promise<RunOutputs> {
    if (this.#disposed) throw disposedError();
    let wire: WireTensors;
    let wireOptions: WireRunOptions;
    try {
      // Checked here, before the inputs' buffers are transferred away, so a bad call loses nothing.
      const specs = this.#graphInputs(options?.graph);
      validateInputs(inputs, specs);
      const keep = keepOption(options?.keep);
      const generation = this.#generation;
      wire = Object.fromEntries(Object.entries(byInputName(inputs, specs)).map(([name, value]) => [name, isTensorRef(value) ? wireOf(value, name, this, generation) : value]));
      // Taken last: a call refused above must not lose the refs waiting to be freed.
      wireOptions = { graph: options?.graph, keep, ...(this.#toRelease.length > 0 && { release: this.#toRelease.splice(0) }) };
    } catch (error) {
      const code = toOndeviceError(error).code;
      this.#rejectedHere.set(code, (this.#rejectedHere.get(code) ?? 0) + 1);
      throw error;
    }
    const generation = this.#generation;
    try {
      const outputs = await this.#connection.run(this.#id, wire, wireOptions);
      return Object.fromEntries(Object.entries(outputs).map(([name, value]) => [name, isWireRef(value) ? this.#ref(value, generation) : value]));
    } finally {
      this.#reportStats();
    }
  }

  async generate(inputs: RunInputs, options: GenerateOptions): Promise<number[]> {
    if (this.#disposed) throw disposedError();
    let wire: WireTensors;
    let wireOptions: WireGenerateOptions;
    try {
      // The first step's inputs are checked as run() checks them (less those the encoder gives), then
      // the loop's options, then the encoder's inputs against its graph.
      const fromEncoder = encoderFed(inputs, options);
      validateInputs(inputs, this.#graphInputs((options as GenerateOptions | undefined)?.graph).filter((spec) => !fromEncoder.has(spec.name)));
      const { encoder, ...checked } = checkGenerate(this.info.graphs, Object.keys(inputs), options);
      const encoderInputs = options.encoder?.inputs ?? {};
      if (encoder) validateEncoderInputs(encoderInputs, this.info.graphs[encoder.graph]!.inputs);
      const generation = this.#generation;
      const toWire = (tensors: RunInputs): WireTensors => Object.fromEntries(Object.entries(tensors).map(([name, value]) => [name, isTensorRef(value) ? wireOf(value, name, this, generation) : value]));
      wire = toWire(inputs);
      wireOptions = { ...checked, ...(encoder && { encoder: { ...encoder, inputs: toWire(encoderInputs) } }), ...(this.#toRelease.length > 0 && { release: this.#toRelease.splice(0) }) };
    } catch (error) {
      const code = toOndeviceError(error).code;
      this.#rejectedHere.set(code, (this.#rejectedHere.get(code) ?? 0) + 1);
      throw error;
    }
    const { onToken, signal } = options;
    const safe = onToken && ((token: number, index: number) => {
      try {
        onToken(token, index);
      } catch {
        // The app's listener threw: its bug, not the loop's.
      }
    });
    try {
      return await this.#connection.generate(this.#id, wire, wireOptions, { onToken: safe, signal });
    } finally {
      this.#reportStats();
    }
  }

  /** The inputs of `graph` (the default graph's when absent). */
  #graphInputs(graph: string | undefined): readonly TensorSpec[] {
    if (graph === undefined) return this.info.inputs;
    const found = typeof graph === 'string' && Object.hasOwn(this.info.graphs, graph) ? this.info.graphs[graph] : undefined;
    if (!found) {
      const names = Object.keys(this.info.graphs);
      throw new OndeviceError('INPUT_INVALID', `Option "graph": this model has no graph ${JSON.stringify(graph)}; its graphs are ${names.map((n) => `"${n}"`).join(', ')}.`, {
        details: { input: 'graph', expected: names, actual: graph },
      });
    }
    return found.inputs;
  }

  #ref(wire: Parameters<typeof makeRef>[2], generation: number): TensorRef {
    return makeRef(this, generation, wire, async (ref) => {
      // A ref from before a reload was freed by it: its dispose has nothing left to free.
      if (this.#disposed || this.#generation !== generation) return;
      // Freed with the next run (no message of its own: a decode loop disposes a cache every step),
      // or on its own once this turn of the event loop has passed without one.
      this.#toRelease.push(ref);
      this.#releaseTimer ??= setTimeout(() => {
        this.#releaseTimer = undefined;
        const refs = this.#toRelease.splice(0);
        if (refs.length > 0 && !this.#disposed) this.#connection.release(this.#id, refs).catch(() => undefined);
      }, 0);
    });
  }

  async read(ref: TensorRef): Promise<Tensor> {
    if (this.#disposed) throw disposedError();
    return this.#connection.read(this.#id, wireOf(ref, '(read)', this, this.#generation));
  }

  async asset(name: string): Promise<Blob> {
    if (this.#disposed) throw disposedError();
    if (typeof name !== 'string') throw new OndeviceError('INPUT_INVALID', `asset() takes a file name from info.assets; got ${typeof name}.`, { details: { input: 'name', actual: typeof name } });
    const bytes = await this.#connection.asset(this.#id, name);
    return new Blob([bytes as Uint8Array<ArrayBuffer>]);
  }

  async stats(): Promise<ModelStats> {
    if (this.#disposed) throw disposedError();
    // Refs disposed but not yet sent are freed first, so `kept` counts what the app still holds.
    const refs = this.#toRelease.splice(0);
    if (refs.length > 0) await this.#connection.release(this.#id, refs);
    const stats = await this.#connection.stats(this.#id);
    const failures: Record<string, number> = { ...stats.failures };
    for (const [code, n] of this.#rejectedHere) failures[code] = (failures[code] ?? 0) + n;
    return { ...stats, failures };
  }

  /** Hands the stats to the app's sink every 100 runs or 30 seconds, whichever comes first. */
  #reportStats(): void {
    if (!this.#onStats) return;
    const due = this.#statsDue;
    due.runs++;
    if (due.runs < 100 && performance.now() - due.at < 30_000) return;
    this.#statsDue = { runs: 0, at: performance.now() };
    const sink = this.#onStats;
    this.stats().then(
      (stats) => {
        try {
          sink(stats);
        } catch {
          // The app's sink threw: its bug, not the library's.
        }
      },
      () => undefined,
    );
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    try {
      await this.#connection.dispose(this.#id);
    } finally {
      this.#connection.close();
    }
  }
}

/** `keep` as it crosses to the host: `true`, a list of names, or absent. */
function keepOption(keep: RunOptions['keep']): WireRunOptions['keep'] {
  if (keep === undefined || keep === false) return undefined;
  if (keep === true) return true;
  if (Array.isArray(keep) && keep.every((k) => typeof k === 'string')) return keep;
  throw new OndeviceError('INPUT_INVALID', 'Option "keep" takes true (every output) or an array of output names.', { details: { input: 'keep', actual: String(keep) } });
}

/** The encoder's inputs checked as run() checks a graph's, the error saying which option it is about. */
function validateEncoderInputs(inputs: RunInputs, specs: readonly TensorSpec[]): void {
  try {
    validateInputs(inputs, specs);
  } catch (error) {
    if (!(error instanceof OndeviceError)) throw error;
    throw new OndeviceError(error.code, `generate(): option "encoder.inputs": ${error.message}`, { details: { ...error.details, option: 'encoder.inputs' } });
  }
}

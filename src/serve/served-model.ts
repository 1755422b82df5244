/**
 * @file One model the server serves: loaded with `ondevice/node`, checked every interval, swapped to a
 * new verified version between requests (runs in flight finish on the old session, which is released
 * after them), and withheld (503) while its version is revoked and nothing else is cached.
 */
import { toOndeviceError } from '../errors.js';
import { resolve } from 'node:path';
import { defaultCacheDir } from '../node/cache-dir.js';
import { cacheMode } from '../node/host.js';
import { loadModel, type NodeLoadOptions } from '../node/load-model.js';
import type { Model, ModelInfo } from '../types.js';
import type { Metrics } from './metrics.js';

export interface ServedOptions extends Pick<NodeLoadOptions, 'cacheDir' | 'backend' | 'publicKey' | 'variant'> {
  /** Seconds between update checks (0: never). */
  updateInterval: number;
  /** Milliseconds the model host may take to answer a request. */
  hostTimeoutMs: number;
  log: (line: string) => void;
}

export class ServedModel {
  #model: Model | undefined;
  #revoked = false;
  #problem = 'loading';
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;
  #closed = false;
  /** Aborts a load still waiting on the model host when the server closes. */
  #stop = new AbortController();
  #labels: Record<'model' | 'version' | 'variant' | 'backend', string> | undefined;
  #readyName: string | undefined;

  constructor(
    readonly url: string,
    readonly options: ServedOptions,
    readonly metrics: Metrics,
  ) {}

  /** The manifest's name once loaded; until then the URL stands for it. */
  get name(): string {
    return this.#model?.info.name ?? this.url;
  }

  get info(): ModelInfo | undefined {
    return this.#model?.info;
  }

  /**
   * The names this model answers to: its own (the default graph) and, for a release of several
   * graphs, `<name>.<graph>` for each graph.
   */
  names(): string[] {
    const graphs = Object.keys(this.#model?.info.graphs ?? {});
    return [this.name, ...(graphs.length > 1 ? graphs.map((g) => `${this.name}.${g}`) : [])];
  }

  /** The graph `name` stands for (`undefined`: the default graph), or `null` if it is not one of `names()`. */
  graphOf(name: string): string | undefined | null {
    if (name === this.name) return undefined;
    const graphs = Object.keys(this.#model?.info.graphs ?? {});
    if (graphs.length < 2 || !name.startsWith(`${this.name}.`)) return null;
    const graph = name.slice(this.name.length + 1);
    return graphs.includes(graph) ? graph : null;
  }

  /** The model to run now, or why there is none. */
  current(): { model: Model } | { problem: string } {
    if (this.#model && !this.#revoked) return { model: this.#model };
    return { problem: this.#model ? `version ${this.#model.info.version} was revoked and no other version is available yet` : this.#problem };
  }

  /**
   * Loads the cached version at once if there is one (no request to the host on the way), else
   * downloads; then asks the host, and checks again every interval.
   */
  async start(): Promise<void> {
    const dir = resolve(this.options.cacheDir ?? defaultCacheDir());
    const mode = await cacheMode(dir).catch(() => 'read-write' as const);
    if (mode === 'read-only') this.options.log(`${this.url}: the cache ${dir} is read-only: serving the versions it holds; a new version cannot be stored, so updates wait until it is writable`);
    if (mode === 'uncached') this.options.log(`${this.url}: the cache ${dir} cannot be written and holds no model: running uncached (every start downloads the model)`);
    await this.#load();
    // Asked off the start: a cached version serves while the host answers (or hangs).
    if (this.#model && !this.#closed) void this.check();
    if (this.options.updateInterval > 0 && !this.#closed) {
      // Unref'd: the server's socket keeps the process alive, not this timer.
      this.#timer = setInterval(() => void this.check(), this.options.updateInterval * 1000);
      this.#timer.unref();
    }
  }

  async #load(): Promise<void> {
    try {
      const { cacheDir, backend, publicKey, variant, hostTimeoutMs } = this.options;
      const model = await loadModel(this.url, { update: 'never', timeoutMs: hostTimeoutMs, signal: this.#stop.signal, ...(cacheDir && { cacheDir }), ...(backend && { backend }), ...(publicKey && { publicKey }), ...(variant && { variant }) });
      if (this.#closed) return void (await model.dispose());
      this.#model = model;
      this.options.log(`${model.info.name}: serving version ${model.info.version}${model.info.fromCache ? ' from the cache' : ''}`);
      this.#published();
    } catch (error) {
      const e = toOndeviceError(error);
      this.#problem = `it could not be loaded: ${e.code}: ${e.message}`;
      this.options.log(`${this.url}: ${this.#problem}`);
      this.#published();
    }
  }

  /** One update check (never two at once); a new version is swapped in, a revoked one withheld. */
  check(): Promise<void> {
    this.#checking ??= this.#check().finally(() => (this.#checking = undefined));
    return this.#checking;
  }

  async #check(): Promise<void> {
    const model = this.#model;
    if (this.#closed) return;
    if (!model) return this.#load();
    const label = { model: this.name };
    try {
      const result = await model.checkForUpdate();
      if (this.#closed) return;
      if (result.available) {
        const before = model.info.version;
        await model.reload();
        this.#revoked = false;
        this.options.log(`${this.name}: now serving version ${model.info.version} (was ${before})`);
        this.metrics.updates.inc({ ...label, outcome: 'swapped' });
      } else {
        if (result.revoked && !this.#revoked) this.options.log(`${this.name}: version ${model.info.version} was revoked; answering 503 until a good version is available`);
        this.#revoked = result.revoked;
        this.metrics.updates.inc({ ...label, outcome: result.revoked ? 'revoked' : 'unchanged' });
      }
    } catch (error) {
      if (this.#closed) return;
      this.metrics.updates.inc({ ...label, outcome: 'failed' });
      this.options.log(`${this.name}: update check failed: ${toOndeviceError(error).message}`);
    }
    this.#published();
  }

  #published(): void {
    const info = this.#model?.info;
    if (this.#labels) this.metrics.model.remove(this.#labels);
    this.#labels = info && { model: info.name, version: info.version ?? '', variant: info.variant ?? '', backend: info.backend };
    if (this.#labels) this.metrics.model.set(this.#labels, 1);
    // Until it loads, a model is known by its URL: that series goes once it has its name.
    if (this.#readyName !== undefined && this.#readyName !== this.name) this.metrics.ready.remove({ model: this.#readyName });
    this.#readyName = this.name;
    this.metrics.ready.set({ model: this.name }, 'model' in this.current() ? 1 : 0);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stop.abort();
    clearInterval(this.#timer);
    // An update check still waiting on the model host is not awaited: it ends by itself (--host-timeout)
    // and, the model being closed, its outcome is dropped.
    await this.#model?.dispose();
  }
}

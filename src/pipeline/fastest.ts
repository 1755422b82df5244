/**
 * @file `backend: 'fastest'`: a few timed runs on each available backend (zeros of the model's
 * declared shapes, free dims as 1, after one untimed run), the fastest median wins, and the choice is
 * remembered in the model's cache record for this version, variant and device, so only the first
 * load pays. Measuring has a time budget; a backend it does not reach loses. A remembered choice that
 * no longer starts is forgotten and measured again.
 */
import { BackendSkipped } from '../backend/select.js';
import { versionOf, type Tuned } from '../cache/records.js';
import type { CacheStore } from '../cache/store.js';
import type { RuntimeSession } from '../runtime/types.js';
import type { Backend, BackendFallback, Tensor, TensorMap, TensorSpec } from '../types.js';
import type { Device } from '../backend/detect.js';

/**
 * Measuring (session creation included) stops here on the first load of a version: a backend not
 * reached by then loses. Generous, because a GPU backend's first session compiles its shaders (2–3 s
 * on a software adapter).
 */
const BUDGET_MS = 10_000;
/** Timed samples; the median wins. */
const TIMED_RUNS = 5;
/** A timed sample lasts at least this long (many runs of a fast model), so a coarse clock still measures it. */
const SAMPLE_MS = 5;
const MAX_RUNS_A_SAMPLE = 1_000;

export interface Tuning {
  measured: Partial<Record<Backend, number>>;
  fromCache: boolean;
}

export interface Fastest<S extends RuntimeSession = RuntimeSession> {
  value: S;
  backend: Backend;
  fallbacks: BackendFallback[];
  tuning: Tuning;
}

/** What identifies "this device" for a choice: browser and major version, cores, and the GPU adapter. */
export function deviceKey(device: Device): string {
  const agent = globalThis.navigator?.userAgent ?? '';
  const browser = /(Firefox|Edg|Chrome|Version)\/(\d+)/.exec(agent)?.slice(1, 3).join('/') ?? 'unknown';
  const gpu = device.get('webgpu');
  return [browser, globalThis.navigator?.hardwareConcurrency ?? 0, gpu?.ok ? (gpu.label ?? 'gpu') : 'no-gpu'].join('|');
}

/** Zero tensors of the declared shapes (free dims as 1), or `undefined` if a type is unknown. */
function zeros(specs: readonly TensorSpec[]): TensorMap | undefined {
  const arrays: Record<string, (n: number) => Tensor['data']> = {
    float32: (n) => new Float32Array(n),
    float16: (n) => new Uint16Array(n),
    float64: (n) => new Float64Array(n),
    int32: (n) => new Int32Array(n),
    int64: (n) => new BigInt64Array(n),
    int8: (n) => new Int8Array(n),
    uint8: (n) => new Uint8Array(n),
    bool: (n) => new Uint8Array(n),
  };
  const out: TensorMap = {};
  for (const spec of specs) {
    const make = arrays[spec.type];
    if (!make) return undefined;
    const dims = spec.dims.map((d) => (typeof d === 'number' ? d : 1));
    out[spec.name] = { type: spec.type, data: make(dims.reduce((a, b) => a * b, 1)), dims } as Tensor;
  }
  return out;
}

/**
 * Median ms a run over a few samples, after an untimed run; `undefined` if the model's inputs cannot
 * be made up. A sample repeats runs until it lasts `SAMPLE_MS`: engines coarsen `performance.now()`
 * (Firefox to 1 ms outside cross-origin isolation), and a 0.1 ms run timed alone reads as 0.
 */
async function timeRuns(session: RuntimeSession, deadline: number): Promise<number | undefined> {
  // In the host a session's run() reads its inputs in place (nothing is transferred): one set serves every run.
  const feed = zeros(session.inputs);
  if (!feed) return undefined;
  await session.run(feed);
  const times: number[] = [];
  while (times.length < TIMED_RUNS && (times.length === 0 || performance.now() < deadline)) {
    const started = performance.now();
    let runs = 0;
    let elapsed = 0;
    do {
      await session.run(feed);
      runs++;
      elapsed = performance.now() - started;
    } while (elapsed < SAMPLE_MS && runs < MAX_RUNS_A_SAMPLE && performance.now() < deadline);
    times.push(elapsed / runs);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

export interface TuningRecord {
  read(): Promise<Tuned | undefined>;
  save(tuned: Tuned): Promise<void>;
  forget(): Promise<void>;
}

/** The remembered choice for `key`, in the model record of `url` (nothing without a cache). */
export function tuningRecord(store: CacheStore | undefined, url: string, key: string): TuningRecord {
  return {
    read: async () => (store ? await store.getModel(url).catch(() => undefined) : undefined)?.tuning?.[key],
    async save(tuned) {
      await store
        ?.updateModel(url, (r) => {
          if (!r) return r;
          // Only choices for versions still kept: the rest can never be used again.
          const kept = Object.entries(r.tuning ?? {}).filter(([k]) => k !== key && versionOf(r, k.split('|')[0] ?? null));
          return { ...r, tuning: Object.fromEntries([...kept, [key, tuned]]) };
        })
        .catch(() => undefined);
    },
    async forget() {
      await store?.updateModel(url, (r) => r && { ...r, tuning: Object.fromEntries(Object.entries(r.tuning ?? {}).filter(([k]) => k !== key)) }).catch(() => undefined);
    },
  };
}

/**
 * Starts the model on the fastest of `order`: the remembered choice if there is one and it starts,
 * else each backend measured in turn (the slower sessions released as soon as a faster one is known).
 */
export async function fastestBackend<S extends RuntimeSession>(order: readonly Backend[], create: (backend: Backend) => Promise<S>, remembered: TuningRecord): Promise<Fastest<S> | undefined> {
  const known = await remembered.read();
  if (known && order.includes(known.backend as Backend)) {
    try {
      return { value: await create(known.backend as Backend), backend: known.backend as Backend, fallbacks: [], tuning: { measured: known.measured, fromCache: true } };
    } catch (error) {
      if (!(error instanceof BackendSkipped)) throw error;
      await remembered.forget();
    }
  }
  const deadline = performance.now() + BUDGET_MS;
  const measured: Partial<Record<Backend, number>> = {};
  const fallbacks: BackendFallback[] = [];
  let best: { backend: Backend; session: S; ms: number } | undefined;
  for (const backend of order) {
    if (best && performance.now() > deadline) {
      fallbacks.push({ backend, reason: `not measured: the ${BUDGET_MS} ms tuning budget ran out` });
      continue;
    }
    let session: S;
    try {
      session = await create(backend);
    } catch (error) {
      if (!(error instanceof BackendSkipped)) throw error;
      fallbacks.push({ backend, reason: error.reason });
      continue;
    }
    const ms = (await timeRuns(session, deadline)) ?? Number.POSITIVE_INFINITY;
    if (Number.isFinite(ms)) measured[backend] = ms;
    if (!best || ms < best.ms) {
      if (best) await best.session.release().catch(() => undefined);
      best = { backend, session, ms };
    } else await session.release().catch(() => undefined);
  }
  if (!best) return undefined;
  const winner = best;
  for (const [backend, ms] of Object.entries(measured) as Array<[Backend, number]>) {
    if (backend !== winner.backend) fallbacks.push({ backend, reason: `measured ${ms.toFixed(2)} ms a run, slower than ${winner.backend} (${winner.ms.toFixed(2)} ms)` });
  }
  await remembered.save({ backend: winner.backend, measured: measured as Record<string, number> });
  return { value: winner.session, backend: winner.backend, fallbacks, tuning: { measured, fromCache: false } };
}

/**
 * @file What a model does on this device, kept where it runs and never sent anywhere: runs, failures
 * by code, latency percentiles from a fixed-size histogram (memory does not grow with the runs), and
 * how long each phase of its load took. No input or output is ever kept.
 */
import type { LoadPhase, ModelStats } from '../types.js';

/** Bucket k holds latencies in [FIRST × GROWTH^k, FIRST × GROWTH^(k+1)) ms: 5 % apart, 1 µs to 10 min. */
const FIRST = 0.001;
const GROWTH = 1.05;
const BUCKETS = Math.ceil(Math.log(600_000 / FIRST) / Math.log(GROWTH)) + 1;

export interface StatsRecorder {
  run(ms: number): void;
  failure(code: string): void;
  snapshot(): Pick<ModelStats, 'runs' | 'failures' | 'latencyMs'>;
}

export function createStatsRecorder(): StatsRecorder {
  const counts = new Uint32Array(BUCKETS);
  const failures = new Map<string, number>();
  let runs = 0;
  let sum = 0;
  let max = 0;
  const bucketOf = (ms: number) => Math.min(BUCKETS - 1, Math.max(0, Math.floor(Math.log(Math.max(ms, FIRST) / FIRST) / Math.log(GROWTH))));
  /** The latency below which a fraction `q` of runs fall: the bucket's geometric middle, never above the max seen. */
  const quantile = (q: number) => {
    if (runs === 0) return 0;
    const rank = Math.ceil(q * runs);
    let seen = 0;
    for (let k = 0; k < BUCKETS; k++) {
      seen += counts[k]!;
      if (seen >= rank) return Math.min(max, FIRST * GROWTH ** (k + 0.5));
    }
    return max;
  };
  return {
    run(ms) {
      runs++;
      sum += ms;
      max = Math.max(max, ms);
      counts[bucketOf(ms)]!++;
    },
    failure(code) {
      failures.set(code, (failures.get(code) ?? 0) + 1);
    },
    snapshot() {
      return {
        runs,
        failures: Object.fromEntries(failures),
        latencyMs: { p50: quantile(0.5), p90: quantile(0.9), p99: quantile(0.99), mean: runs === 0 ? 0 : sum / runs, max },
      };
    },
  };
}

/** Times a load by its progress phases: each phase lasts from its first event to the next phase's. */
export interface PhaseClock {
  mark(phase: LoadPhase): void;
  /** The load's total time and each phase's share, once it is ready. */
  done(): ModelStats['load'];
}

export function createPhaseClock(now: () => number = () => performance.now()): PhaseClock {
  const start = now();
  const marks: Array<[LoadPhase, number]> = [];
  return {
    mark(phase) {
      if (marks.at(-1)?.[0] !== phase) marks.push([phase, now()]);
    },
    done() {
      const end = now();
      const phases: Partial<Record<LoadPhase, number>> = {};
      marks.forEach(([phase, at], i) => {
        const until = marks[i + 1]?.[1] ?? end;
        phases[phase] = (phases[phase] ?? 0) + (until - at);
      });
      return { ms: end - start, phases };
    },
  };
}

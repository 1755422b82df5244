/** @file Suite "stats": what `model.stats()` costs each run() — two clock reads and one histogram record — against the same loop without it. */
import { createStatsRecorder } from '../src/pipeline/stats.js';
import { stats } from './stats.js';

export interface StatsCostReport {
  calls: number;
  /** µs per iteration of an empty loop (the baseline), and of the loop doing what run() does for stats. */
  baselineUs: number;
  withStatsUs: number;
}

export function statsCostSuite(log: (s: string) => void): StatsCostReport {
  const calls = 1_000_000;
  const base: number[] = [];
  const withStats: number[] = [];
  let sink = 0;
  for (let round = 0; round < 5; round++) {
    log(`stats: round ${round + 1}/5`);
    let t0 = performance.now();
    for (let i = 0; i < calls; i++) sink += i & 1;
    base.push(((performance.now() - t0) * 1000) / calls);
    const recorder = createStatsRecorder();
    t0 = performance.now();
    for (let i = 0; i < calls; i++) {
      const started = performance.now();
      sink += i & 1;
      recorder.run(performance.now() - started + 0.05 * (i % 100));
    }
    withStats.push(((performance.now() - t0) * 1000) / calls);
  }
  if (sink < 0) log('unreachable');
  return { calls, baselineUs: stats(base).median, withStatsUs: stats(withStats).median };
}

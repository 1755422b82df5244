/** @file On-device stats: the fixed-size latency histogram against exact percentiles, failures, and load phases. */
import { describe, expect, test } from 'vitest';
import { createPhaseClock, createStatsRecorder } from '../../src/pipeline/stats.js';

/** A deterministic, skewed latency distribution (ms): mostly ~2 ms, a tail to ~200 ms. */
function latencies(n: number): number[] {
  let seed = 7;
  const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
  return Array.from({ length: n }, () => 2 * Math.exp(random() * random() * 4.6));
}

function exact(sorted: number[], q: number): number {
  return sorted[Math.ceil(q * sorted.length) - 1]!;
}

describe('the latency histogram', () => {
  test('percentiles within 5 % of the exact ones over 200,000 runs; mean and max exact', () => {
    const samples = latencies(200_000);
    const recorder = createStatsRecorder();
    for (const ms of samples) recorder.run(ms);
    const sorted = [...samples].sort((a, b) => a - b);
    const { runs, latencyMs } = recorder.snapshot();
    expect(runs).toBe(200_000);
    for (const [q, got] of [[0.5, latencyMs.p50], [0.9, latencyMs.p90], [0.99, latencyMs.p99]] as const) {
      expect(Math.abs(got - exact(sorted, q)) / exact(sorted, q), `p${q * 100}`).toBeLessThanOrEqual(0.05);
    }
    expect(latencyMs.max).toBe(sorted.at(-1));
    expect(latencyMs.mean).toBeCloseTo(samples.reduce((a, b) => a + b, 0) / samples.length, 9);
  });

  test('before any run everything is 0; a percentile never exceeds the max seen', () => {
    const recorder = createStatsRecorder();
    expect(recorder.snapshot()).toEqual({ runs: 0, failures: {}, latencyMs: { p50: 0, p90: 0, p99: 0, mean: 0, max: 0 } });
    recorder.run(3);
    const { latencyMs } = recorder.snapshot();
    expect(latencyMs.p99).toBeLessThanOrEqual(3);
    expect(latencyMs.p50).toBeGreaterThan(3 / 1.05);
  });

  test('failures are counted by code', () => {
    const recorder = createStatsRecorder();
    recorder.failure('RUN_FAILED');
    recorder.failure('RUN_FAILED');
    recorder.failure('DISPOSED');
    expect(recorder.snapshot().failures).toEqual({ RUN_FAILED: 2, DISPOSED: 1 });
  });
});

test('load phases last from their first event to the next phase', () => {
  let t = 0;
  const clock = createPhaseClock(() => t);
  t = 5;
  clock.mark('manifest');
  t = 15;
  clock.mark('download');
  t = 40;
  clock.mark('download');
  clock.mark('verify');
  t = 41;
  clock.mark('compile');
  t = 60;
  clock.mark('ready');
  expect(clock.done()).toEqual({ ms: 60, phases: { manifest: 10, download: 25, verify: 1, compile: 19, ready: 0 } });
});

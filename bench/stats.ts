/** @file Median, p95 and range of samples. */
export interface Stats {
  median: number;
  p95: number;
  mean: number;
  count: number;
  min: number;
  max: number;
}

export function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { median: at(0.5), p95: at(0.95), mean: samples.reduce((a, b) => a + b, 0) / samples.length, count: samples.length, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

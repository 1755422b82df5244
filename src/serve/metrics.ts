/** @file The server's Prometheus metrics (prom-client, one registry per server): requests, failures by code, latency, what each model runs. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Seconds; fixed buckets from a tiny model's sub-millisecond run to a large one's seconds. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'ondevice_serve_' });
  const registers = [registry];
  return {
    registry,
    requests: new Counter({ name: 'ondevice_requests_total', help: 'HTTP requests, by route and status.', labelNames: ['route', 'status'] as const, registers }),
    inFlight: new Gauge({ name: 'ondevice_requests_in_flight', help: 'HTTP requests being answered now (their headers read, their answer not yet sent), this scrape included.', registers }),
    failures: new Counter({ name: 'ondevice_inference_failures_total', help: 'Inference requests that failed, by model and code (an OndeviceError code, or BAD_REQUEST, BUSY, NOT_READY).', labelNames: ['model', 'code'] as const, registers }),
    latency: new Histogram({ name: 'ondevice_inference_duration_seconds', help: 'Time from a run slot to the outputs, by model.', labelNames: ['model'] as const, buckets: BUCKETS, registers }),
    model: new Gauge({ name: 'ondevice_model_info', help: 'The version each model runs (1), with its variant and backend.', labelNames: ['model', 'version', 'variant', 'backend'] as const, registers }),
    ready: new Gauge({ name: 'ondevice_model_ready', help: '1 if the model serves, 0 if not (loading, or its version was revoked).', labelNames: ['model'] as const, registers }),
    updates: new Counter({ name: 'ondevice_model_updates_total', help: 'Update checks, by model and outcome (unchanged, swapped, revoked, failed).', labelNames: ['model', 'outcome'] as const, registers }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

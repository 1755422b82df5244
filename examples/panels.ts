/**
 * The demo's panels: what runs (version, variant, backend and why others were passed over, cached or
 * downloaded, load time by phase), the stats kept on this device, the cache, updates, offline, and
 * how many requests left the page while the model ran (none).
 */
import { modelCache, type BackendFallback, type Model } from 'ondevice';

const $ = <T extends HTMLElement>(selector: string) => document.querySelector<T>(selector)!;

function list(target: HTMLElement, rows: Array<[string, string]>): void {
  target.replaceChildren(...rows.flatMap(([k, v]) => [Object.assign(document.createElement('dt'), { textContent: k }), Object.assign(document.createElement('dd'), { textContent: v })]));
}

/** Exactly what was passed over: a variant on a backend, or a backend. */
export function describeFallback(f: BackendFallback): string {
  return f.variant ? `variant ${f.variant} passed over on ${f.backend}: ${f.reason}` : `${f.backend} skipped: ${f.reason}`;
}

export async function showModel(model: Model): Promise<void> {
  const { info } = model;
  const stats = await model.stats();
  const phases = Object.entries(stats.load.phases)
    .filter(([, ms]) => ms >= 0.5)
    .map(([phase, ms]) => `${phase} ${ms.toFixed(0)} ms`)
    .join(', ');
  list($('#model-info'), [
    ['model', `${info.name} ${info.version ?? ''} (${info.runtime})`],
    ['variant', info.variant ?? '—'],
    ['backend', info.backend],
    ...info.fallbacks.map((f): [string, string] => ['passed over', describeFallback(f)]),
    ['bytes', info.fromCache ? 'from this device’s cache' : 'downloaded, verified, cached'],
    ['load', `${stats.load.ms.toFixed(0)} ms${phases ? ` (${phases})` : ''}`],
  ]);
}

/** The model panels of a model that is not (or no longer) loaded: no stale version beside a new one. */
export function clearModel(why: string): void {
  list($('#model-info'), [['model', why]]);
  list($('#stats'), []);
  $('#privacy').textContent = '';
}

export async function showStats(model: Model, requestsDuringRuns: number): Promise<void> {
  const s = await model.stats();
  const failures = Object.entries(s.failures).map(([code, n]) => `${code} ${n}`).join(', ') || 'none';
  list($('#stats'), [
    ['runs', String(s.runs)],
    ['p50 / p99', s.runs ? `${s.latencyMs.p50.toFixed(2)} / ${s.latencyMs.p99.toFixed(2)} ms` : '—'],
    ['failures', failures],
  ]);
  $('#privacy').textContent = `${requestsDuringRuns} request${requestsDuringRuns === 1 ? '' : 's'} left the page while the model ran: your drawing stays here.`;
}

export async function showCache(): Promise<void> {
  const [models, usage] = await Promise.all([modelCache.list(), modelCache.usage()]);
  list($('#cache'), [
    ...models.map((m): [string, string] => [m.name, `${m.activeVersion ?? 'nothing active'} (${(m.bytes / 1024).toFixed(0)} KiB)`]),
    ['total', `${(usage.bytes / 1024).toFixed(0)} KiB in ${usage.models} model${usage.models === 1 ? '' : 's'}`],
    ['persistent', usage.persisted === null ? 'unknown' : usage.persisted ? 'yes' : 'no (the browser may evict it)'],
  ]);
}

/** Counts the network requests the page makes while `run` is in flight. */
export function requestCounter(): { during<T>(run: () => Promise<T>): Promise<T>; total: number } {
  const counter = {
    total: 0,
    async during<T>(run: () => Promise<T>): Promise<T> {
      const from = performance.now();
      try {
        return await run();
      } finally {
        const to = performance.now();
        counter.total += performance.getEntriesByType('resource').filter((e) => e.startTime >= from && e.startTime <= to).length;
      }
    },
  };
  return counter;
}

export function watchOnline(): void {
  const badge = $('#offline');
  const update = () => (badge.hidden = navigator.onLine);
  addEventListener('online', update);
  addEventListener('offline', update);
  update();
}

/**
 * The publisher panel: what the demo's host serves (examples/demo-host.ts), and buttons that change
 * it as a publisher would. The page learns of a change only as a device does: by asking the host.
 */
export function watchHost(): void {
  const show = (state: { published: string[]; revoked: string[]; down: boolean }) => {
    const newest = state.published.at(-1)!;
    $('#host-state').textContent = state.down
      ? 'The host is offline: it answers nothing.'
      : `The host serves ${newest}${state.published.length > 1 ? ` (and ${state.published.slice(0, -1).join(', ')} before it)` : ''}; revoked: ${state.revoked.join(', ') || 'none'}.`;
    $<HTMLButtonElement>('#publish').disabled = newest === '1.1.0';
    $<HTMLButtonElement>('#revoke').disabled = state.revoked.includes(newest as never);
    $('#host-down').textContent = state.down ? 'Bring the host back' : 'Take the host offline';
  };
  const act = async (action: string) => show(await (await fetch(`/host/${action}`, { method: 'POST' })).json());
  $('#publish').addEventListener('click', () => void act('publish'));
  $('#revoke').addEventListener('click', () => void act('revoke'));
  $('#host-down').addEventListener('click', () => void act($('#host-down').textContent?.startsWith('Bring') ? 'up' : 'down'));
  $('#host-reset').addEventListener('click', () => void act('reset'));
  void fetch('/host/state').then(async (r) => show(await r.json()));
}

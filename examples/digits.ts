/**
 * The digits demo: load the published release through its manifest, turn a drawing into the 8×8
 * input the model was trained on (scikit-learn's digits: ink is bright, values 0..1), show the result.
 */
import { loadModel, modelCache, type BackendPreference, type LoadProgress, type Model, type UpdateInfo } from 'ondevice';
import { clearModel, requestCounter, showCache, showModel, showStats, watchHost, watchOnline } from './panels.js';

/**
 * The same digits task published twice: as ONNX (PyTorch export, served by the demo's own host, which
 * the publisher panel drives) and as a TF.js layers model (NHWC input, static files). Each runtime
 * has its own backends. `?manifest=<url>` loads the ONNX model from another host.
 */
const params = new URLSearchParams(location.search);
const MODELS = {
  onnx: { manifest: params.get('manifest') ?? new URL('/host/digits/manifest.json', location.href).href, dims: [1, 1, 8, 8], backends: ['auto', 'fastest', 'webgpu', 'wasm'] },
  tfjs: { manifest: new URL('/digits-tfjs/layers/manifest.json', location.href).href, dims: [1, 8, 8, 1], backends: ['auto', 'fastest', 'webgpu', 'webgl', 'wasm', 'cpu'] },
};

const pad = document.querySelector<HTMLCanvasElement>('#pad')!;
const seen = document.querySelector<HTMLCanvasElement>('#seen')!;
const digit = document.querySelector<HTMLElement>('#digit')!;
const confidence = document.querySelector<HTMLElement>('#confidence')!;
const bars = document.querySelector<HTMLOListElement>('#bars')!;
const progress = document.querySelector<HTMLProgressElement>('#progress')!;
const phase = document.querySelector<HTMLElement>('#phase')!;
const banner = document.querySelector<HTMLElement>('#update-banner')!;
const checkResult = document.querySelector<HTMLElement>('#check-result')!;
const requests = requestCounter();
const backendSelect = document.querySelector<HTMLSelectElement>('#backend')!;
const modelSelect = document.querySelector<HTMLSelectElement>('#model')!;
const chosen = () => MODELS[modelSelect.value as keyof typeof MODELS];

const ink = pad.getContext('2d', { willReadFrequently: true })!;
let model: Model | undefined;
let loading: AbortController | undefined;

for (let i = 0; i < 10; i++) bars.insertAdjacentHTML('beforeend', `<li><span>${i}</span><div class="bar" style="width:0"></div></li>`);

function showProgress(event: LoadProgress): void {
  if (event.phase === 'download') {
    progress.value = event.total ? event.loaded / event.total : 0;
    phase.textContent = `downloading ${(event.loaded / 1024).toFixed(0)} KiB${event.total ? ` of ${(event.total / 1024).toFixed(0)} KiB` : ''}`;
  } else if (event.phase === 'compile') {
    phase.textContent = `preparing the model for ${event.backend}…`;
  } else if (event.phase === 'ready') {
    progress.value = 1;
    phase.textContent = `warming up on ${event.backend}…`;
  } else {
    phase.textContent = `${event.phase}…`;
  }
}

/** The backends the chosen model's runtime has, keeping the choice when it is one of them. */
function offerBackends(): void {
  const keep = backendSelect.value;
  backendSelect.replaceChildren(...chosen().backends.map((b) => new Option(b, b)));
  backendSelect.value = chosen().backends.includes(keep) ? keep : 'auto';
}

async function load(backend: BackendPreference): Promise<void> {
  loading?.abort();
  const controller = (loading = new AbortController());
  const previous = model;
  model = undefined;
  // Nothing of the model being replaced stays on screen: not its panels, not its update offer.
  banner.hidden = true;
  checkResult.textContent = '';
  clearModel('loading…');
  await previous?.dispose();
  progress.value = 0;
  try {
    const loaded = await loadModel(chosen().manifest, { backend, onProgress: showProgress, onUpdate: offerUpdate, signal: controller.signal });
    // The real model, warmed on its backend (WebGPU compiles its shaders on the first run), so the
    // first stroke answers at once.
    await loaded.run({ image: { type: 'float32', data: new Float32Array(64), dims: chosen().dims } });
    if (controller.signal.aborted) return void (await loaded.dispose());
    model = loaded;
    phase.textContent = 'ready — draw a digit';
    await Promise.all([showModel(model), showStats(model, requests.total), showCache()]);
    void predict();
  } catch (error) {
    if ((error as { code?: string }).code === 'ABORTED') return;
    clearModel('nothing loaded');
    progress.value = 0;
    phase.textContent = navigator.onLine
      ? `could not load: ${(error as Error).message}`
      : 'could not load: this device is offline and has no copy of this model yet. It loads once the device is back online.';
    await showCache();
  }
}

/** Crops the ink to its bounding box, centres it in a square with a margin, and averages it to 8×8. */
function toInput(): Float32Array | undefined {
  const { width, height } = pad;
  const pixels = ink.getImageData(0, 0, width, height).data;
  let [x0, y0, x1, y1] = [width, height, -1, -1];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (pixels[(y * width + x) * 4]! > 32) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    }
  }
  if (x1 < 0) return undefined;
  const side = Math.max(x1 - x0, y1 - y0) * 1.25 + 1;
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  const small = document.createElement('canvas');
  small.width = small.height = 8;
  const ctx = small.getContext('2d', { willReadFrequently: true })!;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(pad, cx - side / 2, cy - side / 2, side, side, 0, 0, 8, 8);
  const data = ctx.getImageData(0, 0, 8, 8).data;
  const input = new Float32Array(64);
  for (let i = 0; i < 64; i++) input[i] = Math.min(1, (data[i * 4]! / 255) * 1.6);
  seen.getContext('2d')!.drawImage(small, 0, 0);
  return input;
}

let running = false;
let stale = false;
/** One inference at a time; strokes drawn meanwhile are predicted right after, so the last one always is. */
async function predict(): Promise<void> {
  if (running) {
    stale = true;
    return;
  }
  const input = model && toInput();
  if (!model || !input) return;
  running = true;
  try {
    const running = model;
    const { logits } = await requests.during(() => running.run({ image: { type: 'float32', data: input, dims: chosen().dims } }));
    show(Array.from(logits!.data as Float32Array));
    await showStats(running, requests.total);
  } catch (error) {
    phase.textContent = `inference failed: ${(error as Error).message}`;
  } finally {
    running = false;
  }
  if (stale) {
    stale = false;
    void predict();
  }
}

function show(logits: number[]): void {
  const max = Math.max(...logits);
  const exp = logits.map((v) => Math.exp(v - max));
  const sum = exp.reduce((a, b) => a + b, 0);
  const probabilities = exp.map((e) => e / sum);
  const best = probabilities.indexOf(Math.max(...probabilities));
  digit.textContent = String(best);
  confidence.textContent = `${(probabilities[best]! * 100).toFixed(1)}% sure`;
  bars.querySelectorAll<HTMLElement>('.bar').forEach((bar, i) => (bar.style.width = `${probabilities[i]! * 100}%`));
}

function clear(): void {
  ink.fillStyle = '#000';
  ink.fillRect(0, 0, pad.width, pad.height);
  seen.getContext('2d')!.clearRect(0, 0, 8, 8);
  digit.textContent = '?';
  confidence.textContent = 'draw to predict';
  bars.querySelectorAll<HTMLElement>('.bar').forEach((bar) => (bar.style.width = '0'));
}

let last: { x: number; y: number } | undefined;
pad.addEventListener('pointerdown', (e) => {
  pad.setPointerCapture(e.pointerId);
  last = { x: e.offsetX, y: e.offsetY };
});
pad.addEventListener('pointermove', (e) => {
  if (!last) return;
  ink.strokeStyle = '#fff';
  ink.lineWidth = 22;
  ink.lineCap = ink.lineJoin = 'round';
  ink.beginPath();
  ink.moveTo(last.x, last.y);
  ink.lineTo(e.offsetX, e.offsetY);
  ink.stroke();
  last = { x: e.offsetX, y: e.offsetY };
  void predict();
});
for (const type of ['pointerup', 'pointercancel'] as const) {
  pad.addEventListener(type, () => {
    last = undefined;
    void predict();
  });
}
/** `onUpdate`: a newer version is verified and cached (or the running one was revoked): offer the switch. */
function offerUpdate(update: UpdateInfo): void {
  if (update.error) return;
  const other = update.version !== update.previousVersion;
  document.querySelector('#update-text')!.textContent = update.revoked
    ? `Version ${update.previousVersion} was withdrawn by its publisher${other ? `; ${update.version} is ready.` : ', and this device has no other version to run: reload to see.'}`
    : `Version ${update.version} is ready.`;
  // A Switch only where there is something to switch to.
  switchButton.hidden = !other;
  banner.hidden = false;
  // An earlier "up to date" is no longer true.
  if (checkResult.textContent === 'up to date') checkResult.textContent = '';
}

const switchButton = document.querySelector<HTMLButtonElement>('#switch')!;
switchButton.addEventListener('click', async () => {
  if (!model) return;
  await model.reload();
  banner.hidden = true;
  checkResult.textContent = '';
  await Promise.all([showModel(model), showStats(model, requests.total), showCache()]);
  void predict();
});
document.querySelector('#check')!.addEventListener('click', async () => {
  if (!model) return;
  checkResult.textContent = 'asking the host…';
  try {
    const result = await model.checkForUpdate();
    // The banner says what changed; this line never contradicts it.
    checkResult.textContent = result.revoked
      ? result.available
        ? `this version was withdrawn; ${result.version} is ready`
        : 'this version was withdrawn, and there is no other to run'
      : result.available
        ? `version ${result.version} downloaded and verified`
        : 'up to date';
  } catch (error) {
    checkResult.textContent = navigator.onLine ? `could not check: ${(error as Error).message}` : 'could not check: this device is offline';
  }
  await showCache();
});
document.querySelector('#clear-cache')!.addEventListener('click', async () => {
  await modelCache.clear();
  await showCache();
});
document.querySelector('#clear')!.addEventListener('click', clear);
watchOnline();
watchHost();
backendSelect.addEventListener('change', () => void load(backendSelect.value as BackendPreference));
modelSelect.addEventListener('change', () => {
  offerBackends();
  void load(backendSelect.value as BackendPreference);
});

offerBackends();
clear();
void load('auto');

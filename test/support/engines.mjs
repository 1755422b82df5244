/**
 * @file vitest browser providers for the two engines Playwright cannot drive here: Debian's
 * firefox-esr over WebDriver BiDi (puppeteer-core; there is no geckodriver package) and WebKitGTK's
 * MiniBrowser through WebKitWebDriver (selenium-webdriver, W3C WebDriver). Each only opens vitest's
 * tester page; the tests themselves are the same files every engine runs. Both run headful under
 * a private Xvfb display: Firefox has WebGL only with a display, MiniBrowser needs one at all.
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineBrowserProvider } from '@vitest/browser';

/**
 * What `npm test` runs. WebKit with Safari's storage features is opt-in for now: in full runs its
 * session has stalled (no output, no CPU) right after its first file, two runs in three, which would
 * hang CI; run it with ONDEVICE_ENGINES=chromium,firefox,webkit,webkit-safari.
 */
export const DEFAULT_ENGINES = 'chromium,firefox,webkit';

export const FIREFOX_PATH = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';
export const WEBKIT_DRIVER_PATH = process.env.WEBKIT_DRIVER_PATH ?? '/usr/bin/WebKitWebDriver';
export const MINIBROWSER_PATH = process.env.MINIBROWSER_PATH ?? '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';

/** Safari ships these on; WebKitGTK's MiniBrowser ships them off. */
export const SAFARI_FEATURES = '--features=+StorageAPI,+StorageAPIEstimate,+FileSystem,+FileSystemWritableStream,+AccessHandle';

export function enginesAvailable() {
  return {
    firefox: existsSync(FIREFOX_PATH) && existsSync('/usr/bin/Xvfb'),
    webkit: existsSync(WEBKIT_DRIVER_PATH) && existsSync(MINIBROWSER_PATH) && existsSync('/usr/bin/Xvfb'),
  };
}

/**
 * One Xvfb per provider, on the first free display number; stopped with the provider.
 * @returns {Promise<{ display: string, stop: () => void }>}
 */
async function startXvfb() {
  for (let n = 90; n < 140; n++) {
    if (existsSync(`/tmp/.X11-unix/X${n}`) || existsSync(`/tmp/.X${n}-lock`)) continue;
    const proc = spawn('Xvfb', [`:${n}`, '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'], { stdio: 'ignore' });
    const ok = await new Promise((resolve) => {
      const t0 = Date.now();
      const poll = () => {
        if (proc.exitCode !== null) return resolve(false);
        if (existsSync(`/tmp/.X11-unix/X${n}`)) return resolve(true);
        if (Date.now() - t0 > 10_000) return resolve(false);
        setTimeout(poll, 50);
      };
      poll();
    });
    if (ok) return { display: `:${n}`, stop: () => proc.kill() };
    proc.kill();
  }
  throw new Error('engines: no free X display for Xvfb in :90-:139');
}

/** @returns {Promise<number>} */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** @typedef {{ open(url: string): Promise<void>, close(): Promise<void> }} Engine */

/** `ONDEVICE_ENGINE_DEBUG=1` logs what the providers do (to stderr). @param {string} text */
function debug(text) {
  if (process.env.ONDEVICE_ENGINE_DEBUG) console.error(`[engines] ${new Date().toISOString().slice(11, 23)} ${text}`);
}

/** The part both providers share: one browser, one page per vitest session, closed with the run. */
class EngineProvider {
  supportsParallelism = false;
  /** @type {Promise<Engine> | undefined} */
  #engine;
  /** @type {{ display: string, stop: () => void } | undefined} */
  #xvfb;

  /**
   * @param {string} name
   * @param {(display: string) => Promise<Engine>} launch
   */
  constructor(name, launch) {
    this.name = name;
    this.launch = launch;
  }

  getCommandsContext() {
    return {};
  }

  /**
   * @param {string} _sessionId
   * @param {string} url
   */
  async openPage(_sessionId, url) {
    this.#engine ??= (async () => {
      const xvfb = await startXvfb();
      this.#xvfb = xvfb;
      return this.launch(xvfb.display);
    })();
    const engine = await this.#engine;
    await engine.open(url);
  }

  async close() {
    const engine = await this.#engine?.catch(() => undefined);
    this.#engine = undefined;
    await engine?.close().catch(() => {});
    this.#xvfb?.stop();
  }
}

/**
 * Firefox ESR over WebDriver BiDi. `persist()` is left to ask its permission prompt, which nobody
 * answers here: a real user's prompt can stay open as long, and the library must not wait on it.
 */
export function firefox() {
  return defineBrowserProvider({
    name: 'firefox-bidi',
    supportedBrowser: ['firefox'],
    options: {},
    providerFactory() {
      return new EngineProvider('firefox-bidi', async (display) => {
        const { default: puppeteer } = await import('puppeteer-core');
        const profile = await mkdtemp(join(tmpdir(), 'ondevice-firefox-'));
        const browser = await puppeteer.launch({
          browser: 'firefox',
          executablePath: FIREFOX_PATH,
          headless: false,
          userDataDir: profile,
          env: { ...process.env, DISPLAY: display, MOZ_CRASHREPORTER_DISABLE: '1' },
          extraPrefsFirefox: {
            'browser.shell.checkDefaultBrowser': false,
            'datareporting.policy.dataSubmissionEnabled': false,
            'toolkit.telemetry.enabled': false,
          },
        });
        const [first] = await browser.pages();
        const page = first ?? (await browser.newPage());
        return {
          open: async (url) => {
            await page.goto(url, { waitUntil: 'load', timeout: 60_000 });
          },
          close: async () => {
            await browser.close();
            await rm(profile, { recursive: true, force: true });
          },
        };
      });
    },
  });
}

/**
 * WebKitGTK's MiniBrowser through WebKitWebDriver. `features` adds MiniBrowser flags (Safari's
 * storage features); `SharedArrayBuffer` is a JavaScriptCore option, set through the environment.
 */
/** @param {{ features?: string[] }} [options] */
export function webkit({ features = [] } = {}) {
  const name = features.length ? 'webkit-safari-features' : 'webkit';
  return defineBrowserProvider({
    name,
    supportedBrowser: ['webkit'],
    options: {},
    providerFactory() {
      return new EngineProvider(name, async (display) => {
        const { Builder } = await import('selenium-webdriver');
        const port = await freePort();
        // ONDEVICE_WEBKIT_LOG=<file>: the driver's, MiniBrowser's and web process's output, appended
        // there (with JSC_logWasmMemory=1 in the environment, say, to see how JavaScriptCore maps
        // WebAssembly memories).
        const log = process.env.ONDEVICE_WEBKIT_LOG ? openSync(process.env.ONDEVICE_WEBKIT_LOG, 'a') : 'ignore';
        const driver = spawn(WEBKIT_DRIVER_PATH, [`--port=${port}`, '--host=127.0.0.1'], {
          stdio: ['ignore', log, log],
          env: {
            ...process.env,
            DISPLAY: display,
            JSC_useSharedArrayBuffer: process.env.JSC_useSharedArrayBuffer ?? 'true',
            // JavaScriptCore's other options (JSC_maxNumWasmFastMemories, JSC_logWasmMemory) pass through
            // from the environment. The fast-memory bound stays at its default: raised to 64, the full
            // WebKit run failed to make WebAssembly memories at all ("RangeError: Out of memory",
            // docs/decisions.md).
            WEBKIT_DISABLE_COMPOSITING_MODE: '1',
          },
        });
        await waitForPort(port);
        debug(`starting a MiniBrowser session on ${display}`);
        const session = await new Builder()
          .usingServer(`http://127.0.0.1:${port}`)
          .withCapabilities({
            browserName: 'MiniBrowser',
            'webkitgtk:browserOptions': { binary: MINIBROWSER_PATH, args: ['--automation', ...features] },
          })
          .build();
        return {
          open: async (url) => {
            debug(`opening ${url}`);
            await session.get(url);
            debug('opened');
          },
          close: async () => {
            await session.quit().catch(() => {});
            driver.kill();
          },
        };
      });
    },
  });
}

/** @param {number} port */
async function waitForPort(port) {
  debug(`waiting for WebKitWebDriver on ${port}`);
  const t0 = Date.now();
  for (;;) {
    const ok = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() - t0 > 10_000) throw new Error(`engines: WebKitWebDriver did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

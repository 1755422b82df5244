#!/usr/bin/env node
/**
 * @file Finds the browsers the tests (or the benchmark) need and installs Debian's packages for the
 * missing ones when it can (root with apt-get), in one apt-get call; otherwise stops with a one-line
 * instruction. Prints nothing when everything is there.
 *
 * Usage: `ensure-browsers.mjs [--optional] [engine…]`. Engines: chromium, firefox, webkit,
 * webkit-safari; default `$ONDEVICE_ENGINES` (comma-separated), else those `npm test` runs.
 * `--optional`: never install and never fail (the demo only uses it to print a hint).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromiumPath } from './chromium-path.mjs';
import { DEFAULT_ENGINES, FIREFOX_PATH, MINIBROWSER_PATH, WEBKIT_DRIVER_PATH } from '../test/support/engines.mjs';

const XVFB = '/usr/bin/Xvfb';
const webkitNeeds = [
  { present: () => existsSync(WEBKIT_DRIVER_PATH), pkg: 'webkit2gtk-driver' },
  // MiniBrowser ships in the engine's library package, which the driver depends on.
  { present: () => existsSync(MINIBROWSER_PATH), pkg: 'libwebkit2gtk-4.1-0' },
  { present: () => existsSync(XVFB), pkg: 'xvfb' },
];
/** What each engine needs: a check, and the Debian package that satisfies it. @type {Record<string, Array<{ present: () => boolean, pkg: string }>>} */
const NEEDS = {
  chromium: [{ present: () => chromiumPath() !== undefined, pkg: 'chromium' }],
  firefox: [
    { present: () => existsSync(FIREFOX_PATH), pkg: 'firefox-esr' },
    { present: () => existsSync(XVFB), pkg: 'xvfb' },
  ],
  webkit: webkitNeeds,
  'webkit-safari': webkitNeeds,
};

const args = process.argv.slice(2);
const optional = args.includes('--optional');
const named = args.filter((a) => !a.startsWith('--'));
const engines = named.length ? named : (process.env.ONDEVICE_ENGINES ?? DEFAULT_ENGINES).split(',').map((e) => e.trim()).filter(Boolean);
for (const e of engines) {
  if (!(e in NEEDS)) {
    console.error(`ondevice: unknown engine "${e}" (known: ${Object.keys(NEEDS).join(', ')}).`);
    process.exit(1);
  }
}

if (process.env.CHROME_PATH && engines.includes('chromium') && !chromiumPath()) {
  console.error(`ondevice: CHROME_PATH is ${process.env.CHROME_PATH}, which does not exist. Point it at a Chromium executable or unset it.`);
  process.exit(optional ? 0 : 1);
}

const missing = () => [...new Set(engines.flatMap((e) => (NEEDS[e] ?? []).filter((n) => !n.present()).map((n) => n.pkg)))];

if (missing().length && !optional) {
  const isRoot = process.getuid?.() === 0;
  let hasApt = false;
  try {
    execFileSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' });
    hasApt = true;
  } catch {}
  if (isRoot && hasApt) {
    const pkgs = missing();
    console.error(`ondevice: installing Debian's ${pkgs.join(', ')} with apt-get...`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('sh', ['-c', `apt-get update -q >/dev/null && apt-get install -y -q ${pkgs.join(' ')} >/dev/null`], { stdio: 'inherit', env });
  }
  const still = missing();
  if (still.length) {
    console.error(`ondevice: missing ${still.join(', ')}. Install them (Debian: \`apt-get install ${still.join(' ')}\`), or run a subset of engines with ONDEVICE_ENGINES (e.g. ONDEVICE_ENGINES=chromium).`);
    process.exit(1);
  }
}

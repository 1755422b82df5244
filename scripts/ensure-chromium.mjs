#!/usr/bin/env node
/**
 * @file Finds Chromium for the browser tests and the benchmark; installs Debian's package when it
 * can (root with apt-get), otherwise stops with a one-line instruction. Prints nothing when found.
 * `--optional`: never install and never fail (the demo only uses it to print a hint).
 */
import { execFileSync } from 'node:child_process';
import { chromiumPath } from './chromium-path.mjs';

const optional = process.argv.includes('--optional');

if (process.env.CHROME_PATH && !chromiumPath()) {
  console.error(`ondevice: CHROME_PATH is ${process.env.CHROME_PATH}, which does not exist. Point it at a Chromium executable or unset it.`);
  process.exit(optional ? 0 : 1);
}

if (!chromiumPath()) {
  if (optional) process.exit(0);
  const isRoot = process.getuid?.() === 0;
  let hasApt = false;
  try {
    execFileSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' });
    hasApt = true;
  } catch {}
  if (isRoot && hasApt) {
    console.error('ondevice: Chromium not found; installing Debian\'s chromium package with apt-get...');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('sh', ['-c', 'apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null'], { stdio: 'inherit', env });
  }
  if (!chromiumPath()) {
    console.error('ondevice: Chromium not found. Install it (Debian: `apt-get install chromium`) or set CHROME_PATH to its executable.');
    process.exit(1);
  }
}

/** @file The library as it ships (`vite build`), in a folder of the repo so that its imports resolve: for tests that run it in child processes. */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
let built: string | undefined;

/** Builds once per test process; returns the path of the built `ondevice/node` entry. */
export function builtNodeEntry(): string {
  if (!built) {
    const out = `${REPO}node_modules/.cache/ondevice-test-build-${process.pid}`;
    execFileSync(process.execPath, [`${REPO}node_modules/vite/bin/vite.js`, 'build', '--outDir', out, '--emptyOutDir', '--logLevel', 'error'], { cwd: REPO, stdio: 'inherit' });
    built = `${out}/node.js`;
  }
  return built;
}

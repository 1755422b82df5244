/**
 * @file `npm test`'s watchdog (scripts/test.mjs), run for real on a small vitest configuration
 * (test/fixtures/watchdog) whose `browser-*` tests stall on their first attempt the two ways a
 * browser engine's session does: a test that waits out its timeout, and a run that goes silent.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CONFIG = 'test/fixtures/watchdog/vitest.config.mjs';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Runs the watchdog on the fixture with the given behaviours; how often each test started. */
function watchdog(fixture: string[], args: string[] = []): Promise<{ code: number | null; stderr: string; attempts: (name: string) => number }> {
  const here = mkdtempSync(join(tmpdir(), 'ondevice-watchdog-'));
  dir = here;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['scripts/test.mjs', '--config', CONFIG, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, WATCHDOG_FIXTURE_DIR: here, WATCHDOG_FIXTURE: fixture.join(','), ONDEVICE_WATCHDOG_SILENCE: '4', ONDEVICE_WATCHDOG_FD: '' },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('exit', (code) =>
      resolve({
        code,
        stderr,
        attempts: (name) => (existsSync(join(here, name)) ? Number(readFileSync(join(here, name), 'utf8')) : 0),
      }),
    );
  });
}

describe('npm test watchdog', { timeout: 120_000 }, () => {
  it('nothing stalls: one run, every test once, exit 0', async () => {
    const r = await watchdog([]);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/Stopping|rerunning/);
    // It closes with the time each project took.
    expect(r.stderr).toMatch(/\d+m\d+s in all; by project, first file to last: .*browser-fake \d+m\d+s \(2 files\)/);
    expect([r.attempts('a'), r.attempts('a-silent'), r.attempts('b'), r.attempts('c')]).toEqual([1, 1, 1, 1]);
  });

  it('a browser test that times out once: the run is stopped, the file runs again in a fresh run and passes, exit 0, and it says so', async () => {
    const r = await watchdog(['a-timeout-once']);
    expect(r.stderr).toMatch(/browser-fake in \S*browser-a\.spec\.mjs: "a: times out on its first attempt when asked" timed out/);
    expect(r.stderr).toMatch(/stalled and passed when run again: browser-fake: \S*browser-a\.spec\.mjs/);
    expect(r.attempts('a')).toBe(2);
    // b ran once in all: before the stall or after it, never both.
    expect(r.attempts('b')).toBe(1);
    expect(r.code).toBe(0);
  });

  it('a browser run that goes silent with no timeout: stopped after the silence, rerun, exit 0', async () => {
    const r = await watchdog(['a-silent-once']);
    expect(r.stderr).toMatch(/browser-fake in \S*browser-a\.spec\.mjs: no sign of life for \d+ s/);
    expect(r.attempts('a-silent')).toBe(2);
    expect(r.code).toBe(0);
  });

  it('a file that stalls every time fails the run after its one rerun, and the other files still run', async () => {
    const r = await watchdog(['a-timeout-always']);
    expect(r.attempts('a')).toBe(2);
    expect(r.attempts('b')).toBe(1);
    expect(r.stderr).toMatch(/browser-a\.spec\.mjs stalled twice/);
    expect(r.stderr).not.toContain('passed when run again');
    expect(r.stderr).toMatch(/failed: browser-fake: \S*browser-a\.spec\.mjs \(stalled\)/);
    expect(r.code).toBe(1);
  });

  it('an ordinary failure is not rerun, and fails the run', async () => {
    const r = await watchdog(['b-fails']);
    expect(r.attempts('b')).toBe(1);
    expect(r.stderr).not.toContain('rerunning');
    expect(r.code).toBe(1);
  });

  it('a browser test that fails on a WebAssembly trap: its file runs once more, alone, passes, exit 0, and it says so', async () => {
    const r = await watchdog(['b-trap-once']);
    expect(r.attempts('b')).toBe(2);
    expect(r.attempts('a')).toBe(1);
    expect(r.stderr).toMatch(/browser-fake: \S*browser-b\.spec\.mjs failed on a WebAssembly memory trap/);
    expect(r.stderr).toMatch(/failed on a WebAssembly trap and passed when run again: browser-fake: \S*browser-b\.spec\.mjs/);
    expect(r.code).toBe(0);
  });

  it('a trap on the rerun too fails the run: one rerun, no more', async () => {
    const r = await watchdog(['b-trap-always']);
    expect(r.attempts('b')).toBe(2);
    expect(r.stderr).toMatch(/failed: browser-fake: \S*browser-b\.spec\.mjs \(failed\)/);
    expect(r.code).toBe(1);
  });

  it('a timeout outside the browser projects is an ordinary failure: no rerun', async () => {
    const r = await watchdog(['c-timeout']);
    expect(r.attempts('c')).toBe(1);
    expect(r.stderr).not.toContain('rerunning');
    expect(r.code).toBe(1);
  });

  it('arguments reach vitest: a project filter runs only that project', async () => {
    const r = await watchdog([], ['--project', 'node']);
    expect([r.attempts('a'), r.attempts('b'), r.attempts('c')]).toEqual([0, 0, 1]);
    expect(r.code).toBe(0);
  });
});

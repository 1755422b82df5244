/**
 * @file The Node cache's locks. Two lock managers on one directory stand for two processes (each keeps
 * its own in-memory queue; only the files on disk are shared); a real second process is in
 * node-processes.test.ts.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { heldLockNames, holdShared, ifUnlocked, withLock } from '../../src/cache/locks.js';
import { fileLocks } from '../../src/node/file-locks.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ondevice-locks-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A promise and the function that resolves it: a holder says "I have the lock" through it. */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('file locks', () => {
  test('exclusive: a second "process" waits until the first releases, then runs', async () => {
    const a = { locks: fileLocks(dir) };
    const b = { locks: fileLocks(dir) };
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const inside = signal();
    const first = withLock(a, 'file:x', undefined, async () => {
      order.push('a in');
      inside.resolve();
      await held;
      order.push('a out');
    });
    // The second asks once the first holds the lock, however long taking it took.
    await inside.promise;
    const second = withLock(b, 'file:x', undefined, async () => void order.push('b in'));
    // A second that did not wait would be in by now; one that waits is in only after the release.
    await sleep(200);
    expect(order).toEqual(['a in']);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['a in', 'a out', 'b in']);
  });

  test('ifAvailable: refused while another "process" holds the lock, exclusive or shared', async () => {
    const a = { locks: fileLocks(dir) };
    const b = { locks: fileLocks(dir) };
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const inside = signal();
    const holding = withLock(a, 'file:y', undefined, () => (inside.resolve(), held));
    await inside.promise;
    expect(await ifUnlocked(b, 'file:y', async () => 'ran')).toBeUndefined();
    release();
    await holding;
    expect(await ifUnlocked(b, 'file:y', async () => 'ran')).toBe('ran');
  });

  test('within one process, shared holders run together and exclusive waits for them', async () => {
    const a = { locks: fileLocks(dir) };
    const release = await holdShared(a, 'model:u');
    expect(await withLock(a, 'model:u', undefined, async () => 'shared too', 'shared')).toBe('shared too');
    expect(await ifUnlocked(a, 'model:u', async () => 'ran')).toBeUndefined();
    expect(await heldLockNames(a)).toEqual(new Set(['model:u']));
    release();
    // A release is asynchronous, as with Web Locks: the lock is free soon after.
    for (let i = 0; i < 2000 && (await heldLockNames(a)).size > 0; i++) await sleep(10);
    expect(await ifUnlocked(a, 'model:u', async () => 'ran')).toBe('ran');
    // Nothing is left behind once no one holds a lock.
    expect(readdirSync(dir)).toEqual([]);
  });

  test("another process's shared holder is seen while it lives, and forgotten when it dies", async () => {
    const b = { locks: fileLocks(dir) };
    // A holder file written by a live process that is not this one: a real child that sleeps.
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    const { mkdirSync, writeFileSync, readdirSync } = await import('node:fs');
    const a = { locks: fileLocks(dir) };
    const release = await holdShared(a, 'model:v');
    const [folder] = readdirSync(dir).filter((n) => n.endsWith('.shared'));
    mkdirSync(join(dir, folder!), { recursive: true });
    writeFileSync(join(dir, folder!, `${other.pid}-0-abcd`), 'ondevice:model:v');
    release();
    expect(await heldLockNames(b)).toEqual(new Set(['model:v']));
    expect(await ifUnlocked(b, 'model:v', async () => 'ran')).toBeUndefined();
    other.kill('SIGKILL');
    await new Promise((r) => other.once('exit', r));
    expect(await ifUnlocked(b, 'model:v', async () => 'ran')).toBe('ran');
    expect(await heldLockNames(b)).toEqual(new Set());
  });

  test('an aborted wait rejects with ABORTED and leaves the lock usable', async () => {
    const a = { locks: fileLocks(dir) };
    const b = { locks: fileLocks(dir) };
    let release!: () => void;
    const inside = signal();
    const holding = withLock(a, 'file:z', undefined, () => new Promise<void>((r) => ((release = r), inside.resolve())));
    await inside.promise;
    const controller = new AbortController();
    const waiting = withLock(b, 'file:z', controller.signal, async () => 'ran');
    setTimeout(() => controller.abort(), 100);
    await expect(waiting).rejects.toMatchObject({ code: 'ABORTED' });
    release();
    await holding;
    expect(await withLock(b, 'file:z', undefined, async () => 'ran')).toBe('ran');
  });
});

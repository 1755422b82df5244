/**
 * @file The test server's request log is what the tests count downloads by, so it must not lag the
 * client. A response is logged when it closes, and a client can hold every byte of a body (it knows
 * its Content-Length) before the server has ended and closed that response: a test that asked
 * `/__requests` in that window counted one download too few (a busy machine opened it wide enough
 * for Chromium's `cache.test.ts` "a file altered in storage is detected and healed" to read 1, not 2).
 * `/slow/` ends a response only a rate's pause after its last byte, which makes the window certain.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startModelServer } from '../support/model-server.mjs';

let root = '';
let server: Awaited<ReturnType<typeof startModelServer>>;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'ondevice-server-'));
  writeFileSync(join(root, 'small.bin'), new Uint8Array(1_000).fill(3));
  server = await startModelServer({ root });
});
afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

type Logged = { path: string; bytes: number; completed: boolean; status: number };
const log = async () => (await (await fetch(`${server.url}/__requests`)).json()) as Logged[];

test('a body the client holds whole is in the request log when the client asks next, not a moment later', async () => {
  // 1,000 bytes at 1,000 B/s: the whole body goes out at once, the response ends a second later.
  const body = new Uint8Array(await (await fetch(`${server.url}/slow/small.bin?bps=1000`)).arrayBuffer());
  expect(body.length).toBe(1_000);
  const logged = (await log()).filter((r) => r.path === '/slow/small.bin');
  expect(logged).toEqual([expect.objectContaining({ status: 200, bytes: 1_000, completed: true })]);
});

test('a response still short of its body is not waited for: the log answers, without it', async () => {
  // /held/ sends the first bytes and then nothing until the client goes away.
  const controller = new AbortController();
  const response = await fetch(`${server.url}/held/small.bin?after=100`, { signal: controller.signal });
  expect(response.status).toBe(200);
  expect((await log()).filter((r) => r.path === '/held/small.bin')).toEqual([]);
  controller.abort();
  await expect.poll(async () => (await log()).filter((r) => r.path === '/held/small.bin')).toEqual([
    expect.objectContaining({ bytes: 100, completed: false }),
  ]);
});

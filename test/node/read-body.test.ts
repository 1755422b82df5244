/** @file Reading bodies of unknown size: chunks joined, byte counts reported, a wrong Content-Length survived, a break reported. */
import { describe, expect, test } from 'vitest';
import { readBody } from '../../src/download/fetch-file.js';

function response(chunks: number[][], headers: Record<string, string> = {}): Response {
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(new Uint8Array(c));
      controller.close();
    },
  });
  return new Response(stream, { headers });
}

const base = { url: 'https://h/x.onnx', signal: undefined, onBytes: () => undefined };

describe('readBody', () => {
  test('joins the chunks and reports growing byte counts', async () => {
    const counts: number[] = [];
    const bytes = await readBody(response([[1, 2], [3], [4, 5, 6]]), { ...base, onBytes: (n) => counts.push(n) });
    expect([...bytes]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(counts).toEqual([2, 3, 6]);
  });

  test('a Content-Length that is too small or too large does not lose bytes', async () => {
    expect([...(await readBody(response([[1, 2], [3, 4]], { 'content-length': '2' }), base))]).toEqual([1, 2, 3, 4]);
    expect([...(await readBody(response([[1, 2]], { 'content-length': '9' }), base))]).toEqual([1, 2]);
  });

  test('a stream that breaks off is DOWNLOAD_FAILED with the bytes received', async () => {
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new Uint8Array([1, 2, 3]));
        controller.error(new TypeError('network error'));
      },
    });
    await expect(readBody(new Response(stream), base)).rejects.toMatchObject({ code: 'DOWNLOAD_FAILED', details: { received: 3 } });
  });
});

/**
 * @file What keeps the server up under load and abuse: a bounded body, a cap on concurrent runs with a
 * bounded queue (a flood gets 503, not an ever-growing heap), and a token compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http-error.js';

/** Reads the body, refusing one over `limit` bytes before reading it (Content-Length) or as it arrives. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => new HttpError(413, `The body is larger than ${limit} bytes (--max-body).`, { connection: 'close' });
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge();
  // Events, not `for await`: the async iterator costs several microseconds a request.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      req.off('data', onData);
      reject(tooLarge());
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}

export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new HttpError(400, `The body is not valid JSON: ${error instanceof Error ? error.message : String(error)}.`);
  }
}

export interface Limiter {
  /** Waits for a run slot; 503 if the queue is full, or if no slot frees within `waitMs`. Returns the release. */
  acquire(): Promise<() => void>;
  readonly running: number;
  readonly queued: number;
}

export function createLimiter(maxRunning: number, maxQueued: number, waitMs: number): Limiter {
  let running = 0;
  const queue: Array<{ grant: () => void; timer: NodeJS.Timeout }> = [];
  const release = () => {
    const next = queue.shift();
    if (next) {
      clearTimeout(next.timer);
      next.grant();
    } else running--;
  };
  const once = () => {
    let done = false;
    return () => {
      if (!done) (done = true), release();
    };
  };
  return {
    acquire() {
      if (running < maxRunning) {
        running++;
        return Promise.resolve(once());
      }
      if (queue.length >= maxQueued) return Promise.reject(new HttpError(503, `The server is busy (${maxRunning} runs and ${maxQueued} waiting): retry shortly.`, { 'retry-after': '1' }));
      return new Promise((resolve, reject) => {
        const entry = {
          grant: () => resolve(once()),
          timer: setTimeout(() => {
            queue.splice(queue.indexOf(entry), 1);
            reject(new HttpError(503, `No run slot freed within ${waitMs} ms: retry shortly.`, { 'retry-after': '1' }));
          }, waitMs),
        };
        queue.push(entry);
      });
    },
    get running() {
      return running;
    },
    get queued() {
      return queue.length;
    },
  };
}

/** Whether `header` is `Bearer <token>`; both are hashed first, so the comparison takes the same time whatever they hold. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer (.+)$/i.exec(header ?? '')?.[1] ?? '';
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(token)) && given.length > 0;
}

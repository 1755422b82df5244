/**
 * @file What keeps the server up under load and abuse: a bounded body, a cap on concurrent runs with a
 * bounded queue (a flood gets 503, not an ever-growing heap), and a token compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http-error.js';

/**
 * Bytes the server holds for requests, across all of them: a body counts twice its size (its bytes,
 * then the tensors parsed from them) from its first byte until its answer is sent. One request may
 * not pass `--max-body`; all together may not pass `--max-buffered`, or the next one gets 503.
 */
export interface Budget {
  /** Takes `bytes` if they fit; false if not. */
  take(bytes: number): boolean;
  give(bytes: number): void;
  readonly held: number;
}

export function createBudget(limit: number): Budget {
  let held = 0;
  return {
    take(bytes) {
      if (held + bytes > limit) return false;
      held += bytes;
      return true;
    },
    give(bytes) {
      held -= bytes;
    },
    get held() {
      return held;
    },
  };
}

/** What a body of `n` bytes holds once parsed: its bytes and its tensors. */
export const HOLD_PER_BYTE = 2;

/**
 * Reads the body, refusing one over `limit` bytes before reading it (Content-Length) or as it
 * arrives, and one that does not fit in `budget` (503). Returns the body and how many bytes it holds
 * in the budget, which the caller gives back once the answer is sent (on success or failure alike:
 * `held` is set before anything can throw, through `hold`).
 */
export async function readBody(req: IncomingMessage, limit: number, budget: Budget, hold: { bytes: number }): Promise<Buffer> {
  const tooLarge = () => new HttpError(413, `The body is larger than ${limit} bytes (--max-body).`, { connection: 'close' });
  const busy = () => new HttpError(503, `The server holds as many request bytes as it may (--max-buffered): retry shortly.`, { 'retry-after': '1', connection: 'close' });
  const reserve = (bytes: number) => {
    if (!budget.take(bytes)) return false;
    hold.bytes += bytes;
    return true;
  };
  const declared = Number(req.headers['content-length']);
  const announced = Number.isSafeInteger(declared) && declared >= 0;
  if (announced && declared > limit) throw tooLarge();
  // An announced body is reserved whole, up front: refused before a byte of it is read.
  if (announced && !reserve(declared * HOLD_PER_BYTE)) throw busy();
  // Events, not `for await`: the async iterator costs several microseconds a request.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (error: HttpError) => {
      req.off('data', onData);
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return fail(tooLarge());
      if (!announced && !reserve(chunk.length * HOLD_PER_BYTE)) return fail(busy());
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
    // A client that goes away mid-body: nothing to answer, but the caller must let go of what it held.
    req.once('close', () => req.complete || reject(new HttpError(400, 'The client closed the connection before the body ended.')));
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

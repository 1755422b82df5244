/**
 * @file Every request to the model host under a bound: its answer (status and headers) must come
 * within `ms`, and then each chunk of its body. Node's fetch waits minutes on its own (undici: 300 s
 * for headers, 300 s between body chunks), which left a hanging host holding a server's start-up and
 * shutdown. Expiry aborts the request; the caller sees a network failure that says how long it waited.
 */
import type { Fetch } from '../download/fetch-file.js';

export function timedFetch(base: Fetch, ms: number): Fetch {
  const expired = () => new Error(`the model host did not answer within ${ms / 1000} s`);
  return async (input, init) => {
    const timer = new AbortController();
    const signal = init?.signal ? AbortSignal.any([init.signal, timer.signal]) : timer.signal;
    let clock: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(clock);
      clock = setTimeout(() => timer.abort(expired()), ms);
    };
    arm();
    let response: Response;
    try {
      response = await base(input, { ...init, signal });
    } catch (error) {
      clearTimeout(clock);
      throw timer.signal.aborted && !init?.signal?.aborted ? expired() : error;
    }
    clearTimeout(clock);
    if (!response.body) return response;
    const reader = response.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        arm();
        try {
          const { done, value } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        } catch (error) {
          controller.error(timer.signal.aborted && !init?.signal?.aborted ? expired() : error);
        } finally {
          clearTimeout(clock);
        }
      },
      cancel: (reason) => reader.cancel(reason),
    });
    const timed = new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
    // The final URL after redirects, which the download code checks against the host the app named.
    Object.defineProperty(timed, 'url', { value: response.url });
    return timed;
  };
}

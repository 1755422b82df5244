/**
 * @file A fault-injecting HTTP proxy in front of the model server, for the network-failure tests.
 * Rules are set over HTTP (PUT /__faults, JSON array) and each applies `times` times to requests whose
 * path contains `match`, then the proxy passes requests through untouched. GET /__log lists what it saw.
 *
 * Faults: `cut` (end the body after `after` bytes; the socket closes at the keep-alive timeout, 5 s
 * later: closed at once, Chromium drops bytes it had received but not yet handed to the page, and
 * nothing is left to resume from), `reset` (destroy the socket after `after` bytes),
 * `stall` (send `after` bytes, then nothing), `status` (answer `status`, with `retryAfter` seconds),
 * `html` (200 text/html), `corrupt` (flip bytes, keep the length), `length` (a wrong Content-Length),
 * `throttle` (`bps` bytes a second), `no-range` (ignore Range and If-Range: answer 200 in full),
 * `no-length` (no Content-Length: a chunked body), `hang` (answer nothing at all, until the client gives up).
 */
import { createServer, request as httpRequest } from 'node:http';

/**
 * @typedef {{ match: string, fault: string, times?: number, after?: number, status?: number, retryAfter?: number, bps?: number }} Rule
 * @typedef {{ path: string, range: string | undefined, ifRange: string | undefined, status: number, fault: string | undefined }} Seen
 */

/** @param {string} upstream the model server's URL */
export async function startFaultProxy(upstream) {
  /** @type {Rule[]} */
  let rules = [];
  /** @type {Seen[]} */
  const log = [];
  const target = new URL(upstream);

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    res.setHeader('Access-Control-Allow-Origin', '*');
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Headers', '*');
      res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, PUT');
      return void res.writeHead(204).end();
    }
    if (path === '/__faults') {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        rules = JSON.parse(body || '[]');
        log.length = 0;
        res.writeHead(204).end();
      });
      return;
    }
    if (path === '/__log') {
      res.setHeader('Content-Type', 'application/json');
      return void res.end(JSON.stringify(log));
    }
    const rule = rules.find((r) => path.includes(r.match) && (r.times ?? 1) > 0);
    if (rule) rule.times = (rule.times ?? 1) - 1;
    /** @type {Seen} */
    const seen = { path, range: req.headers.range, ifRange: String(req.headers['if-range'] ?? '') || undefined, status: 0, fault: rule?.fault };
    log.push(seen);

    if (rule?.fault === 'status') {
      seen.status = rule.status ?? 500;
      if (rule.retryAfter !== undefined) res.setHeader('Retry-After', String(rule.retryAfter));
      res.setHeader('Access-Control-Expose-Headers', 'Retry-After');
      return void res.writeHead(seen.status).end('injected failure');
    }
    if (rule?.fault === 'hang') {
      // A host that accepted the connection and never answers: no status, no headers.
      req.resume();
      return;
    }
    if (rule?.fault === 'html') {
      seen.status = 200;
      res.setHeader('Content-Type', 'text/html');
      return void res.writeHead(200).end('<!DOCTYPE html><html><body>index</body></html>');
    }
    /** @type {Record<string, string | string[] | undefined>} */
    const headers = { ...req.headers, host: target.host };
    if (rule?.fault === 'no-range') {
      delete headers.range;
      delete headers['if-range'];
    }
    const upstreamReq = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers }, (up) => {
      seen.status = up.statusCode ?? 0;
      const out = { ...up.headers, 'access-control-allow-origin': '*', 'access-control-expose-headers': 'ETag, Content-Length, Content-Range, Accept-Ranges, Retry-After' };
      if (rule?.fault === 'length' && out['content-length']) out['content-length'] = String(Number(out['content-length']) + 1000);
      if (rule?.fault === 'no-length') delete out['content-length'];
      if (rule?.fault === 'no-range') delete out['accept-ranges'];
      res.writeHead(up.statusCode ?? 502, out);
      let sent = 0;
      let stalled = false;
      let trickling = false;
      let upEnded = false;
      const after = rule?.after ?? 0;
      up.on('data', (/** @type {Buffer} */ chunk) => {
        if (stalled) return;
        if (rule && ['cut', 'reset', 'stall'].includes(rule.fault) && sent + chunk.length > after) {
          const head = chunk.subarray(0, Math.max(0, after - sent));
          if (head.length) res.write(head);
          sent = after;
          if (rule.fault === 'stall') {
            // Keep both connections open and send nothing more, until the client gives up.
            stalled = true;
            up.pause();
            res.on('close', () => up.destroy());
            return;
          }
          up.destroy();
          if (rule.fault === 'cut') res.end();
          else res.destroy();
          return;
        }
        if (rule?.fault === 'corrupt') chunk = Buffer.from(chunk.map((b, i) => (sent + i) % 997 === 0 ? b ^ 0xff : b));
        sent += chunk.length;
        if (rule?.fault === 'throttle') {
          // A trickle: 4 KiB at a time, at `bps`.
          up.pause();
          trickling = true;
          const bps = rule.bps ?? 50_000;
          let at = 0;
          const next = () => {
            if (res.destroyed) return void up.destroy();
            if (at >= chunk.length) {
              trickling = false;
              // The upstream may have ended while this chunk trickled: end now, not mid-chunk.
              if (upEnded && !res.writableEnded) return void res.end();
              return void up.resume();
            }
            res.write(chunk.subarray(at, at + 4096));
            at += 4096;
            setTimeout(next, (4096 / bps) * 1000);
          };
          next();
        } else res.write(chunk);
      });
      up.on('end', () => {
        upEnded = true;
        if (!trickling && !res.writableEnded && !res.destroyed) res.end();
      });
    });
    upstreamReq.on('error', () => {
      if (!res.writableEnded) res.destroy();
    });
    req.pipe(upstreamReq);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('fault proxy has no port');
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve(undefined));
      }),
  };
}

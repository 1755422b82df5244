/** @file Suite "hash": incremental SHA-256 (hash-wasm) against WebCrypto's one-shot digest, same bytes. */
import { createSHA256 } from 'hash-wasm';
import { stats } from './stats.js';

export interface HashReport {
  mb: number;
  reps: number;
  hashWasm: number;
  webCrypto: number;
}

export async function hashSuite(mb: number, reps: number, log: (s: string) => void): Promise<HashReport> {
  const bytes = new Uint8Array(mb * 1024 * 1024);
  for (let i = 0; i < bytes.length; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  const wasm: number[] = [];
  const web: number[] = [];
  for (let r = 0; r < reps; r++) {
    log(`hash: round ${r + 1}/${reps}`);
    let t0 = performance.now();
    const hasher = await createSHA256();
    hasher.init();
    for (let o = 0; o < bytes.length; o += 1 << 20) hasher.update(bytes.subarray(o, o + (1 << 20)));
    const a = hasher.digest('hex');
    wasm.push(performance.now() - t0);
    t0 = performance.now();
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
    web.push(performance.now() - t0);
    const b = Array.from(digest, (x) => x.toString(16).padStart(2, '0')).join('');
    if (a !== b) throw new Error('hash-wasm and WebCrypto disagree');
  }
  return { mb, reps, hashWasm: stats(wasm).median, webCrypto: stats(web).median };
}

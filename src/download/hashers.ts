/**
 * @file Incremental hashers lent out and taken back, rather than made for every file. Each hash-wasm
 * hasher is a WebAssembly instance with its own memory, and a memory is not cheap to an engine:
 * JavaScriptCore gives a process (a page and its workers) only a few memories with guard-page bounds
 * checks (8; 3 on iOS) and makes every later one bounds-checked, where onnxruntime-web in the same
 * page can trap; it also starts a full garbage collection once half of them are in use. A new hasher
 * per download and per warm read made one memory per file until the collector caught up. Lent
 * hashers keep it at the number of files hashed at once, and at most one of each kind when idle.
 */
import { createSHA256, createXXHash64, type IHasher } from 'hash-wasm';

export type HashKind = 'sha256' | 'xxh64';

/** A hasher lent for one file: `hasher` is reset and yours until `release()`, which gives it back once. */
export interface HasherLease {
  readonly hasher: IHasher;
  /** Gives the hasher back; later calls do nothing. Do not touch `hasher` after it. */
  release(): void;
}

/**
 * Idle hashers kept per kind. One: files hashed one after another share it, and a context that once
 * hashed several at once does not keep their memories for good; the extra ones are left to the
 * garbage collector when given back.
 */
const KEEP = 1;
const idle: Record<HashKind, IHasher[]> = { sha256: [], xxh64: [] };

/** A reset hasher of `kind`, an idle one if there is one. */
export async function lendHasher(kind: HashKind): Promise<HasherLease> {
  let hasher = idle[kind].pop();
  if (!hasher) {
    hasher = kind === 'sha256' ? await createSHA256() : await createXXHash64();
  }
  hasher.init();
  let lent = true;
  const own = hasher;
  return {
    hasher: own,
    release() {
      if (!lent) return;
      lent = false;
      if (idle[kind].length < KEEP) idle[kind].push(own);
    },
  };
}

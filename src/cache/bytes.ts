/**
 * @file Where a cached file's bytes live: the one small interface the cache writes them through,
 * with two stores behind it (OPFS files, IndexedDB chunks). The cache's database (store.ts) records
 * which store holds each file, so a file is read from where it was written whatever this context
 * would choose now.
 */

/** A byte store's name, as file records and `modelCache.usage()` give it. */
export type StoreKind = BrowserStoreKind | 'disk';

/** The browser's two stores; `'disk'` is `ondevice/node`'s (src/node/disk-store.ts). */
export type BrowserStoreKind = 'opfs' | 'indexeddb';

/** What reading a stored file needs to know of it. */
export interface StoredBytes {
  sha256: string;
  size: number;
  /** IndexedDB chunks only: the chunk size the file was written with. */
  chunkSize?: number;
}

export interface ByteStore {
  readonly kind: StoreKind;
  /**
   * Stores a whole file; durable once it resolves (the file's record is written after it). On
   * failure nothing of it is left. `savedBytes`: a prefix a download checkpoint already stored here.
   */
  write(sha256: string, bytes: Uint8Array, savedBytes: number): Promise<void>;
  /** The whole file in one buffer, or `undefined` if it is missing or short. */
  read(file: StoredBytes): Promise<Uint8Array | undefined>;
  /**
   * The file's first `size` bytes as a stream read from the store as it is pulled (no buffer of the
   * whole file), or `undefined` if it is missing or short. Unchecked: see cache/read-stream.ts.
   */
  open(file: StoredBytes): Promise<ReadableStream<Uint8Array> | undefined>;
  /** Keeps what a download received so far; `from` bytes of it were saved by an earlier call. */
  writePartial(sha256: string, bytes: Uint8Array, from: number): Promise<void>;
  readPartial(sha256: string, received: number): Promise<Uint8Array | undefined>;
  /** Deletes the file and its partial, whichever exist. */
  delete(sha256: string): Promise<void>;
  /** Hashes that have bytes here, whole or partial. */
  owners(): Promise<Set<string>>;
}

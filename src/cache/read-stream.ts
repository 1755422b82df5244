/**
 * @file A cached file as a checked stream: read from its store as it is pulled (an OPFS `File`,
 * IndexedDB chunk by chunk, a file on disk; never a buffer of the whole file), hashed as it flows,
 * and its last chunk held back until the hash holds. Bytes altered in storage end the stream with
 * `INTEGRITY_MISMATCH` before the file is whole, so a reader never gets all of a wrong file, and the
 * altered copy is deleted so that the next resolve downloads it again. The file's lock is held shared
 * from the first pull to the end: garbage collection in another context cannot take the bytes mid-read.
 * Nothing is opened before the first pull, so a stream nobody reads holds nothing. A reader that
 * cancels ends a read under way quietly (the bytes it got so far say nothing of the stored file), and
 * the cancel settles once that read has ended and the lock is let go.
 */
import type { IHasher } from 'hash-wasm';
import { lendHasher, type HasherLease } from '../download/hashers.js';
import { OndeviceError } from '../errors.js';
import { fileLock } from './files.js';
import { holdShared, ifUnlocked } from './locks.js';
import type { FileRef } from './records.js';
import type { CacheStore } from './store.js';

/** Thrown inside a pull to stop it quietly once the reader has cancelled. */
const CANCELLED = Symbol('cancelled');

export interface CheckedStreamOptions {
  /** How errors name the file (its path in the release). */
  label: string;
  /** Called once if the stream fails (the bytes were altered, or are gone), before the reader sees the error. */
  onError?: (error: OndeviceError) => void;
}

/** The stored file `file` as a stream that errors rather than end with bytes other than the ones stored. */
export function checkedStream(store: CacheStore, file: FileRef, options: CheckedStreamOptions): ReadableStream<Uint8Array> {
  const { label } = options;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let unlock: (() => Promise<void>) | undefined;
  let hasher: IHasher | undefined;
  let expected = '';
  let storedAt = 0;
  let held: Uint8Array | undefined;
  let received = 0;
  /** Set by a cancel: what a read under way then returns says nothing about the stored bytes. */
  let cancelled = false;
  /** The pull under way, if any: a cancel settles after it. */
  let pulling: Promise<void> | undefined;
  /** The hasher this stream borrowed (see download/hashers.ts), given back by `end()`. */
  let lease: HasherLease | undefined;
  /** Lets the file's lock go and gives the hasher back; settles once the lock is let go. */
  const end = async () => {
    const release = unlock;
    unlock = undefined;
    // The hasher goes back once, and this stream no longer uses it (its digest, if any, is taken).
    lease?.release();
    lease = undefined;
    hasher = undefined;
    await release?.();
  };

  const open = async () => {
    unlock = await holdShared(store, fileLock(file.sha256));
    const record = await store.getFile(file.sha256);
    const stream = record && record.size === file.size ? await store.openFile(record) : undefined;
    if (!record || !stream) {
      throw new OndeviceError('STORAGE_FAILED', `The cached file ${label} is no longer in storage (the cache was cleared or collected meanwhile); ask for it again to download it.`, { details: { file: label } });
    }
    storedAt = record.storedAt;
    // The checksum taken when the bytes were stored (after their SHA-256 held), as every warm read checks.
    expected = record.xxh64 ?? file.sha256;
    lease = await lendHasher(record.xxh64 !== undefined ? 'xxh64' : 'sha256');
    hasher = lease.hasher;
    reader = stream.getReader();
  };

  /** Deletes the copy that was read (not one another context stored meanwhile); the next resolve downloads it. */
  const altered = async (actual: string) => {
    await end();
    await ifUnlocked(store, fileLock(file.sha256), async () => {
      if ((await store.getFile(file.sha256))?.storedAt === storedAt) await store.deleteFile(file.sha256);
    }).catch(() => undefined);
    return new OndeviceError('INTEGRITY_MISMATCH', `The cached copy of ${label} was altered in storage (${received} of ${file.size} bytes, checksum ${actual}, stored as ${expected}); it is deleted, and the next request downloads it again.`, {
      details: { file: label, expected, actual },
    });
  };

  const pull = async (controller: ReadableStreamDefaultController<Uint8Array>) => {
    try {
      if (!reader) await open();
      // A pull must deliver a chunk or end the stream: the first chunk is only held back.
      for (;;) {
        if (cancelled) throw CANCELLED;
        const { done, value } = await reader!.read();
        // The store's stream ends early when the reader cancels: that is no sign of altered bytes.
        if (cancelled) throw CANCELLED;
        if (done) {
          const actual = received === file.size ? hasher!.digest('hex') : `${received} bytes`;
          if (actual !== expected) throw await altered(actual);
          if (held) controller.enqueue(held);
          held = undefined;
          void end();
          controller.close();
          return;
        }
        if (value.byteLength === 0) continue;
        received += value.byteLength;
        if (received > file.size) throw await altered(`more than ${file.size} bytes`);
        hasher!.update(value);
        const ready = held;
        held = value;
        if (ready) {
          controller.enqueue(ready);
          return;
        }
      }
    } catch (error) {
      void end();
      held = undefined;
      void reader?.cancel().catch(() => undefined);
      if (cancelled) return;
      // A read the store refused mid-way (the file changed or vanished under a snapshot) says so.
      const failure =
        error instanceof OndeviceError
          ? error
          : new OndeviceError('STORAGE_FAILED', `Reading the cached file ${label} failed (${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}); ask for it again.`, { details: { file: label }, cause: error });
      options.onError?.(failure);
      controller.error(failure);
    }
  };

  return new ReadableStream<Uint8Array>({
    pull(controller) {
      pulling = pull(controller);
      return pulling;
    },
    async cancel(reason) {
      cancelled = true;
      held = undefined;
      await reader?.cancel(reason).catch(() => undefined);
      // The read under way ends without judging what it got; then the file's lock is let go.
      await pulling;
      await end();
    },
    // No queue: the first pull comes with the first read, not when the stream is made (a Response
    // made and never read, as transformers.js in Node makes one of every two it asks for, opens nothing).
  }, { highWaterMark: 0 });
}

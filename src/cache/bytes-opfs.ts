/**
 * @file File bytes in the origin private file system: one file per SHA-256 (and `<sha256>.partial`
 * for what an interrupted download received). In a dedicated worker bytes are written through a sync
 * access handle and read through a read-only one straight into one buffer, the fastest path the
 * browser offers (issue 14's table: 56 ms per 100 MB against 171–265 for IndexedDB); elsewhere
 * through `createWritable()` and `getFile()`. Locking is the cache's Web Locks' job (a writer holds a
 * file's lock exclusive, readers shared); the handles' own locks are only met when they disagree.
 */
import { OndeviceError } from '../errors.js';
import type { ByteStore, StoredBytes } from './bytes.js';

/** The part of a sync access handle used here (declared for the DOM lib, which lacks the worker's types). */
interface SyncHandle {
  read(into: Uint8Array, options?: { at: number }): number;
  write(from: Uint8Array, options?: { at: number }): number;
  truncate(size: number): void;
  getSize(): number;
  flush(): void;
  close(): void;
}

type SyncCapable = FileSystemFileHandle & {
  createSyncAccessHandle?: (options?: { mode?: 'read-only' | 'readwrite' }) => Promise<SyncHandle>;
};

const HASH_NAME = /^[0-9a-f]{64}(\.partial)?$/;
const PARTIAL = '.partial';

async function openDirectory(directory: string): Promise<FileSystemDirectoryHandle> {
  // WebKit as shipped has no navigator.storage at all.
  const manager = globalThis.navigator?.storage;
  if (typeof manager?.getDirectory !== 'function') throw new DOMException('This engine has no origin private file system.', 'NotSupportedError');
  return (await manager.getDirectory()).getDirectoryHandle(directory, { create: true });
}

/** Writes `bytes` at `at` and truncates the file to `at + bytes.length`; durable when it resolves. */
async function writeAll(handle: SyncCapable, bytes: Uint8Array, at: number): Promise<void> {
  if (typeof handle.createSyncAccessHandle === 'function') {
    const access = await handle.createSyncAccessHandle();
    try {
      access.truncate(at + bytes.length);
      for (let done = 0; done < bytes.length; ) {
        const n = access.write(bytes.subarray(done), { at: at + done });
        if (n <= 0) throw new DOMException('OPFS wrote nothing.', 'UnknownError');
        done += n;
      }
      access.flush();
    } finally {
      access.close();
    }
    return;
  }
  if (typeof handle.createWritable !== 'function') throw new DOMException('This context cannot write to the origin private file system.', 'NotSupportedError');
  // The stream writes a swap file, put in place by close(): the file is whole or as it was.
  const stream = await handle.createWritable({ keepExistingData: at > 0 });
  try {
    await stream.write({ type: 'write', position: at, data: bytes as Uint8Array<ArrayBuffer> });
    await stream.truncate(at + bytes.length);
    await stream.close();
  } catch (error) {
    await stream.abort().catch(() => undefined);
    throw error;
  }
}

/** The buffer a sync-handle read fills: one allocation of the file's size, which a device short of memory may refuse (RangeError). */
type Allocate = (size: number) => Uint8Array;

/** Reads the first `size` bytes into one buffer; `undefined` if the file is shorter. */
async function readAll(handle: SyncCapable, size: number, allocate: Allocate): Promise<Uint8Array | undefined> {
  if (typeof handle.createSyncAccessHandle === 'function') {
    // Read-only handles may be open in several contexts at once (Chromium 121+); an engine without
    // the mode opens an exclusive one, which fails while another context reads: getFile() then.
    const access = await handle.createSyncAccessHandle({ mode: 'read-only' }).catch(() => undefined);
    if (access) {
      try {
        if (access.getSize() < size) return undefined;
        const out = allocate(size);
        for (let done = 0; done < size; ) {
          const n = access.read(out.subarray(done), { at: done });
          if (n <= 0) return undefined;
          done += n;
        }
        return out;
      } finally {
        access.close();
      }
    }
  }
  const file = await handle.getFile();
  if (file.size < size) return undefined;
  return new Uint8Array(await (size === file.size ? file : file.slice(0, size)).arrayBuffer());
}

const missing = (error: unknown) => error instanceof DOMException && (error.name === 'NotFoundError' || error.name === 'TypeMismatchError');

/**
 * Another context holds an exclusive handle on the file for a moment (Firefox opens every sync handle
 * exclusive, and reading 1 GB takes half a second): try again for up to 5 s.
 */
async function retried<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      const busy = error instanceof DOMException && (error.name === 'NoModificationAllowedError' || error.name === 'InvalidStateError');
      if (!busy || attempt >= 200) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

export interface OpfsByteStore extends ByteStore {
  /**
   * Whether this context can keep bytes in OPFS: the directory opens and a file can be written and
   * removed (private modes and ephemeral sessions refuse one of those). Asked once per context.
   */
  writable(): Promise<boolean>;
}

export interface OpfsOptions {
  /** @default (size) => new Uint8Array(size) */
  allocate?: Allocate;
}

export function opfsByteStore(directory: string, options: OpfsOptions = {}): OpfsByteStore {
  const allocate = options.allocate ?? ((size: number) => new Uint8Array(size));
  let dir: Promise<FileSystemDirectoryHandle> | undefined;
  // A refusal is kept for the context's life: WebKit takes seconds to refuse each time it is asked
  // (ephemeral sessions), and a context OPFS refused once does not get it later.
  const open = () => (dir ??= openDirectory(directory));
  let writable: Promise<boolean> | undefined;
  const probe = async () => {
    try {
      const name = `probe-${Math.random().toString(36).slice(2)}`;
      const handle = await (await open()).getFileHandle(name, { create: true });
      await writeAll(handle, new Uint8Array([1]), 0);
      await (await open()).removeEntry(name);
      return true;
    } catch {
      return false;
    }
  };
  const remove = async (name: string) => {
    await (await open()).removeEntry(name).catch((error: unknown) => {
      if (!missing(error)) throw error;
    });
  };
  const read = async (name: string, size: number) => {
    let handle: FileSystemFileHandle;
    try {
      handle = await (await open()).getFileHandle(name);
    } catch (error) {
      if (missing(error)) return undefined;
      throw error;
    }
    try {
      return await retried(() => readAll(handle, size, allocate));
    } catch (error) {
      // Only a missing or short file is a miss (the version is then fetched again and its bytes
      // collected). A read that fails otherwise (a buffer that cannot be allocated under memory
      // pressure, a handle busy past the retries) says nothing about the bytes: they stay, and so
      // does the version, for the next start.
      if (missing(error)) return undefined;
      throw new OndeviceError('STORAGE_FAILED', `Reading a cached file from the origin private file system failed (${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}). The cached version is kept; try again (a low-memory device may need other tabs closed).`, {
        details: { file: name },
        cause: error,
      });
    }
  };
  /** Writes `bytes` from offset `at` on (what is before it is there already), or whole if the file is shorter than that. */
  const write = async (name: string, bytes: Uint8Array, at: number) => {
    const handle = await (await open()).getFileHandle(name, { create: true });
    const from = at > 0 ? Math.min(at, (await handle.getFile()).size) : 0;
    await retried(() => writeAll(handle, bytes.subarray(from), from));
  };
  return {
    kind: 'opfs',
    writable: () => (writable ??= probe()),
    async write(sha256, bytes) {
      try {
        await write(sha256, bytes, 0);
      } catch (error) {
        await remove(sha256).catch(() => undefined);
        throw error;
      }
      await remove(sha256 + PARTIAL).catch(() => undefined);
    },
    read: (file: StoredBytes) => read(file.sha256, file.size),
    async open(file: StoredBytes) {
      // A File is a snapshot the engine reads from disk as the stream is pulled: no copy in memory.
      let snapshot: File;
      try {
        const handle = await (await open()).getFileHandle(file.sha256);
        snapshot = await retried(() => handle.getFile());
      } catch (error) {
        if (missing(error)) return undefined;
        throw error;
      }
      if (snapshot.size < file.size) return undefined;
      return (snapshot.size === file.size ? snapshot : snapshot.slice(0, file.size)).stream() as ReadableStream<Uint8Array>;
    },
    writePartial: (sha256, bytes, from) => write(sha256 + PARTIAL, bytes, from),
    // A partial that cannot be read is only lost progress: the download starts over.
    readPartial: (sha256, received) => read(sha256 + PARTIAL, received).catch(() => undefined),
    async delete(sha256) {
      await remove(sha256);
      await remove(sha256 + PARTIAL);
    },
    async owners() {
      const names: string[] = [];
      const handle = (await open()) as FileSystemDirectoryHandle & { keys(): AsyncIterable<string> };
      for await (const name of handle.keys()) if (HASH_NAME.test(name)) names.push(name.slice(0, 64));
      return new Set(names);
    },
  };
}

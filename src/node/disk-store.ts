/**
 * @file The cache on disk, for `ondevice/node` (the same records as the browser's, as JSON files):
 *
 *     <dir>/content/<aa>/<sha256>        a verified file's bytes, named by its SHA-256 only
 *     <dir>/partial/<sha256>[.json]      what an interrupted download received, and its record
 *     <dir>/index/files/<sha256>.json    a file's record, written once its bytes are durable
 *     <dir>/index/models/<hash>.json     a model's record (versions, active), by the hash of its URL
 *     <dir>/tmp/                         writes in progress, renamed into place when fsynced
 *     <dir>/locks/                       the cross-process locks (file-locks.ts)
 *
 * Like npm's cacache: content addressed by hash, written to a temp file and renamed into place, the
 * index apart from the content. No name from the network reaches a path: only hashes do, and a hash
 * is checked to be 64 hex digits before it names a file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { openAsBlob } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { xxh64Hex } from '../download/verify.js';
import { OndeviceError } from '../errors.js';
import type { LockManagerLike } from '../cache/locks.js';
import type { FileRecord, ModelRecord } from '../cache/records.js';
import type { CacheStore } from '../cache/store.js';
import { alive, fileLocks, type FileLocksOptions } from './file-locks.js';

export interface DiskCacheOptions {
  /** The locks shared by every process on `dir`. @default file locks in `<dir>/locks` */
  locks?: LockManagerLike;
  /** See file-locks.ts. */
  locking?: FileLocksOptions;
}

interface PartialRecord {
  received: number;
  validator: string | null;
  savedAt: number;
}

const HEX64 = /^[0-9a-f]{64}$/;

function checked(sha256: string): string {
  if (!HEX64.test(sha256)) throw new OndeviceError('INTERNAL', `Refused to name a cache file after ${JSON.stringify(sha256.slice(0, 80))}: only SHA-256 hex digests name files.`, { details: { sha256 } });
  return sha256;
}

const missing = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT';

/** A full disk is the browser's full quota: `QUOTA_EXCEEDED`. */
function diskError(error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new OndeviceError('QUOTA_EXCEEDED', 'The disk is full: the model could not be cached and nothing of it was activated. Free space, or set maxCacheBytes so older models are evicted.', { cause: error });
  }
  return error;
}

/** An own buffer for `bytes` (a pooled Buffer is a view into a larger one; runtimes may read `.buffer`). */
function own(bytes: Buffer): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? new Uint8Array(bytes.buffer) : new Uint8Array(bytes);
}

export function diskCacheStore(dir: string, options: DiskCacheOptions = {}): CacheStore {
  const locks = options.locks ?? fileLocks(join(dir, 'locks'), options.locking);
  const content = (sha: string) => join(dir, 'content', checked(sha).slice(0, 2), sha);
  const partialBytes = (sha: string) => join(dir, 'partial', checked(sha));
  const partialRecord = (sha: string) => `${partialBytes(sha)}.json`;
  const fileRecord = (sha: string) => join(dir, 'index', 'files', `${checked(sha)}.json`);
  const modelKey = (url: string) => createHash('sha256').update(url).digest('hex');
  const modelRecord = (url: string) => join(dir, 'index', 'models', `${modelKey(url)}.json`);

  /** A temp file named by this process's id, so that one a killed process left is known for what it is. */
  const tempPath = (ext: string) => join(dir, 'tmp', `${process.pid}-${randomBytes(8).toString('hex')}.${ext}`);

  /** Temp files, and whether each is abandoned: its writer has ended (or, without a pid in its name or past a day, it is old). */
  async function temps(): Promise<Array<{ path: string; size: number; abandoned: boolean }>> {
    const names = await readdir(join(dir, 'tmp')).catch(() => [] as string[]);
    const out = [];
    for (const name of names) {
      const info = await stat(join(dir, 'tmp', name)).catch(() => undefined);
      if (!info?.isFile()) continue;
      const pid = Number(/^(\d+)-[0-9a-f]+\.\w+$/.exec(name)?.[1] ?? Number.NaN);
      const age = Date.now() - info.mtimeMs;
      const abandoned = Number.isSafeInteger(pid) ? !alive(pid) || age > 24 * 3_600_000 : age > 3_600_000;
      out.push({ path: join(dir, 'tmp', name), size: info.size, abandoned });
    }
    return out;
  }

  /** Writes `bytes` to a temp file, fsyncs it and renames it to `path`: readers see all of it or none. */
  async function writeAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
    const tmp = tempPath('tmp');
    await mkdir(dirname(tmp), { recursive: true });
    await mkdir(dirname(path), { recursive: true });
    try {
      const handle = await open(tmp, 'wx');
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, path);
    } catch (error) {
      await rm(tmp, { force: true });
      throw diskError(error);
    }
    await syncDir(dirname(path));
  }

  async function readJson<T>(path: string): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(path, 'utf8')) as T;
    } catch (error) {
      // A record that is not JSON was not written by this code (writes are atomic): as good as absent.
      if (missing(error) || error instanceof SyntaxError) return undefined;
      throw error;
    }
  }

  async function listJson<T>(folder: string): Promise<T[]> {
    const names = await readdir(folder).catch((error: unknown) => (missing(error) ? [] : Promise.reject(error)));
    const records = await Promise.all(names.filter((n) => n.endsWith('.json')).map((n) => readJson<T>(join(folder, n))));
    return records.filter((r): r is Awaited<T> => r !== undefined) as T[];
  }

  /** Holds a record's cross-process lock for a read-modify-write. */
  const locked = <T>(name: string, task: () => Promise<T>) => locks.request(`ondevice:record:${name}`, { mode: 'exclusive' }, task);

  return {
    locks,
    getModel: (url) => readJson<ModelRecord>(modelRecord(url)),
    updateModel: (url, change) =>
      locked(modelKey(url), async () => {
        const next = change(await readJson<ModelRecord>(modelRecord(url)));
        if (next === undefined) await rm(modelRecord(url), { force: true });
        else await writeAtomic(modelRecord(url), JSON.stringify(next));
      }),
    deleteModel: (url) => locked(modelKey(url), () => rm(modelRecord(url), { force: true })),
    listModels: () => listJson<ModelRecord>(join(dir, 'index', 'models')),
    getFile: (sha256) => readJson<FileRecord>(fileRecord(sha256)),
    listFiles: () => listJson<FileRecord>(join(dir, 'index', 'files')),
    async writeFile(sha256, bytes) {
      try {
        await writeAtomic(content(sha256), bytes);
        const record: FileRecord = { sha256, size: bytes.length, storedAt: Date.now(), xxh64: await xxh64Hex(bytes), store: 'disk' };
        await writeAtomic(fileRecord(sha256), JSON.stringify(record));
        await rm(partialBytes(sha256), { force: true });
        return record;
      } catch (error) {
        await rm(content(sha256), { force: true }).catch(() => undefined);
        throw diskError(error);
      }
    },
    async readFile(file) {
      try {
        const bytes = await readFile(content(file.sha256));
        return bytes.length === file.size ? own(bytes) : undefined;
      } catch (error) {
        if (missing(error)) return undefined;
        throw error;
      }
    },
    async openFile(file) {
      try {
        // A Blob of the file on disk, read as the stream is pulled (no buffer of the whole file).
        const blob = await openAsBlob(content(file.sha256));
        if (blob.size < file.size) return undefined;
        return (blob.size === file.size ? blob : blob.slice(0, file.size)).stream() as ReadableStream<Uint8Array>;
      } catch (error) {
        if (missing(error)) return undefined;
        throw error;
      }
    },
    async deleteFile(sha256) {
      await rm(fileRecord(sha256), { force: true });
      await rm(content(sha256), { force: true });
      await rm(partialBytes(sha256), { force: true });
    },
    async byteOwners() {
      const owners = new Set<string>();
      for (const prefix of await readdir(join(dir, 'content')).catch(() => [] as string[])) {
        for (const name of await readdir(join(dir, 'content', prefix)).catch(() => [] as string[])) if (HEX64.test(name)) owners.add(name);
      }
      for (const name of await readdir(join(dir, 'partial')).catch(() => [] as string[])) if (HEX64.test(name)) owners.add(name);
      return owners;
    },
    byteStore: async () => 'disk',
    strays: {
      bytes: async () => (await temps()).reduce((sum, t) => sum + t.size, 0),
      async collect() {
        for (const t of await temps()) if (t.abandoned) await rm(t.path, { force: true });
      },
    },
    async savePartial(sha256, { bytes, validator }) {
      const previous = await readJson<PartialRecord>(partialRecord(sha256));
      const from = previous && previous.validator === validator ? Math.min(previous.received, bytes.length) : 0;
      await mkdir(join(dir, 'partial'), { recursive: true });
      const length = from > 0 ? await stat(partialBytes(sha256)).then((s) => s.size, () => 0) : 0;
      try {
        // Appends what arrived since the last checkpoint; a file shorter than its record is rewritten whole.
        const start = length >= from ? from : 0;
        const handle = await open(partialBytes(sha256), start > 0 ? 'r+' : 'w');
        try {
          await handle.write(bytes, start, bytes.length - start, start);
          await handle.truncate(bytes.length);
          await handle.sync();
        } finally {
          await handle.close();
        }
      } catch (error) {
        throw diskError(error);
      }
      await writeAtomic(partialRecord(sha256), JSON.stringify({ received: bytes.length, validator, savedAt: Date.now() } satisfies PartialRecord));
    },
    async loadPartial(sha256) {
      const record = await readJson<PartialRecord>(partialRecord(sha256));
      if (!record) return undefined;
      const bytes = await readFile(partialBytes(sha256)).catch(() => undefined);
      if (!bytes || bytes.length < record.received) return undefined;
      return { bytes: own(bytes).subarray(0, record.received), validator: record.validator, savedAt: record.savedAt };
    },
    async listPartials() {
      const names = await readdir(join(dir, 'partial')).catch(() => [] as string[]);
      const out: Array<{ sha256: string; received: number }> = [];
      for (const name of names) {
        const sha256 = name.replace(/\.json$/, '');
        if (!name.endsWith('.json') || !HEX64.test(sha256)) continue;
        const record = await readJson<PartialRecord>(join(dir, 'partial', name));
        if (record) out.push({ sha256, received: record.received });
      }
      return out;
    },
    partialSavedAt: async (sha256) => (await readJson<PartialRecord>(partialRecord(sha256)))?.savedAt,
    deletePartial: (sha256) => rm(partialRecord(sha256), { force: true }),
    async deviceId() {
      const path = join(dir, 'device-id');
      const existing = await readFile(path, 'utf8').catch(() => undefined);
      if (existing) return existing.trim();
      // Made once: the id is written to a temp file and linked into place, which fails if another
      // process got there first; then everyone reads the same id.
      const tmp = tempPath('id');
      await mkdir(dirname(tmp), { recursive: true });
      await writeAtomic(tmp, randomBytes(16).toString('hex'));
      await link(tmp, path).catch((error: unknown) => ((error as NodeJS.ErrnoException).code === 'EEXIST' ? undefined : Promise.reject(error)));
      await rm(tmp, { force: true });
      return (await readFile(path, 'utf8')).trim();
    },
  };
}

/** Makes a rename durable: the directory entry is fsynced too (not possible on Windows, where it is skipped). */
async function syncDir(path: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(path, 'r').catch(() => undefined);
  if (!handle) return;
  await handle.sync().catch(() => undefined);
  await handle.close();
}

/**
 * The cache on a read-only file system (a pre-warmed cache in a container image): it serves the
 * versions it holds; nothing it learns is stored (a revocation holds for this process only), and a
 * new version cannot be stored (`STORAGE_FAILED`, so an update check says so and the running version
 * keeps running). No locks: nobody can write to it.
 */
export function readOnlyStore(store: CacheStore, dir: string): CacheStore {
  const refused = () =>
    Promise.reject(new OndeviceError('STORAGE_FAILED', `The cache directory ${dir} is read-only: it serves the versions it holds, and a new version cannot be stored. Make it writable (or give ondevice/node a writable cacheDir) to take updates.`, { details: { cacheDir: dir } }));
  let deviceId: string | undefined;
  return {
    ...store,
    locks: undefined,
    updateModel: async () => undefined,
    deleteModel: async () => undefined,
    writeFile: refused,
    deleteFile: async () => undefined,
    savePartial: async () => undefined,
    deletePartial: async () => undefined,
    deviceId: async () => (deviceId ??= await store.deviceId().catch(() => randomBytes(16).toString('hex'))),
    strays: { bytes: async () => 0, collect: async () => undefined },
  };
}

/**
 * @file The byte stores as the tests see them: which ones this engine has, and hands on the bytes
 * each holds, to alter or count them as disk corruption or a leftover would.
 */
import { expect } from 'vitest';
import { defaultCacheStore, type BrowserStoreKind as StoreKind } from '../../src/cache/store.js';
import { engine, expected } from './engine.js';

/**
 * The stores the cache tests run against here: both in Chromium; elsewhere the one the engine's
 * default picks (OPFS in Firefox, whose read path differs; IndexedDB in WebKit, where OPFS refuses).
 * The IndexedDB store is the same code in every engine, so running it twice more adds time, not cover.
 */
export const stores: StoreKind[] = engine === 'chromium' ? ['opfs', 'indexeddb'] : [expected.opfs ? 'opfs' : 'indexeddb'];

async function chunksDb(): Promise<IDBDatabase> {
  return new Promise<IDBDatabase>((resolve, reject) => {
    const open = indexedDB.open('ondevice-chunks');
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
}

async function opfsDir(): Promise<FileSystemDirectoryHandle> {
  return (await navigator.storage.getDirectory()).getDirectoryHandle('ondevice', { create: true });
}

const flip = (bytes: Uint8Array) => {
  for (let i = 100; i < 200; i++) bytes[i] = bytes[i]! ^ 0xff;
};

/** Flips bytes 100–199 of a stored file, wherever its record says it is. */
export async function alterStored(sha256: string): Promise<void> {
  const record = await defaultCacheStore().getFile(sha256);
  expect(record, `file ${sha256} is stored`).toBeDefined();
  if (record!.store === 'opfs') {
    const handle = await (await opfsDir()).getFileHandle(sha256);
    const bytes = new Uint8Array(await (await handle.getFile()).arrayBuffer());
    flip(bytes);
    const stream = await handle.createWritable();
    await stream.write(bytes);
    await stream.close();
    return;
  }
  const db = await chunksDb();
  const store = db.transaction('chunks', 'readwrite').objectStore('chunks');
  const key = `${sha256}/0`;
  const value = await new Promise<ArrayBuffer>((resolve) => {
    const get = store.get(key);
    get.onsuccess = () => resolve(get.result as ArrayBuffer);
  });
  expect(value, `chunk ${key} is stored`).toBeInstanceOf(ArrayBuffer);
  const bytes = new Uint8Array(value.slice(0));
  flip(bytes);
  await new Promise<void>((resolve) => {
    const put = store.put(bytes.buffer, key);
    put.onsuccess = () => resolve();
  });
  db.close();
}

/** Deletes a stored file's bytes (its IndexedDB chunks, or its OPFS file) and leaves its record: bytes lost to the storage. */
export async function dropStoredBytes(sha256: string): Promise<void> {
  const record = await defaultCacheStore().getFile(sha256);
  expect(record, `file ${sha256} is stored`).toBeDefined();
  if (record!.store === 'opfs') {
    await (await opfsDir()).removeEntry(sha256);
    return;
  }
  const db = await chunksDb();
  const chunks = db.transaction('chunks', 'readwrite').objectStore('chunks');
  await new Promise<void>((resolve, reject) => {
    const range = IDBKeyRange.bound(`${sha256}/`, `${sha256}/\uffff`);
    const del = chunks.delete(range);
    del.onsuccess = () => resolve();
    del.onerror = () => reject(del.error);
  });
  db.close();
}

/** What each store holds: OPFS file names (with their sizes) and the IndexedDB chunk keys. */
export async function storedBytes(): Promise<{ opfs: Record<string, number>; chunks: string[] }> {
  const opfs: Record<string, number> = {};
  if (expected.opfs) {
    const dir = (await opfsDir()) as FileSystemDirectoryHandle & { entries(): AsyncIterable<[string, FileSystemHandle]> };
    for await (const [name, handle] of dir.entries()) if (handle.kind === 'file') opfs[name] = (await (handle as FileSystemFileHandle).getFile()).size;
  }
  const db = await chunksDb();
  const chunks = await new Promise<string[]>((resolve) => {
    const all = db.transaction('chunks').objectStore('chunks').getAllKeys();
    all.onsuccess = () => resolve(all.result as string[]);
  });
  db.close();
  return { opfs, chunks };
}

/**
 * @file A release's files without a session: what `transformersCache` answers transformers.js with.
 * The same resolve as a load (cache or host, the update policy, signatures, revocations), for one
 * variant. A cached version is found, not read: each file is opened when transformers.js reads it, as
 * a stream from the store that is checked as it flows (cache/read-stream.ts), so no second copy of
 * the model is held; a version downloaded now is served from the store it was written to.
 */
import { CacheMiss } from '../cache/files.js';
import { checkedStream } from '../cache/read-stream.js';
import type { CacheStore } from '../cache/store.js';
import { OndeviceError } from '../errors.js';
import { splitRelease } from './graphs.js';
import { resolveModel, type Resolved, type ResolveContext, type UpdateRules } from '../update/resolve.js';

/** One file of a release, opened when it is read. */
export interface ReleaseFile {
  /** Its path in the release, as the manifest names it. */
  path: string;
  size: number;
  sha256: string;
  /**
   * Its bytes as a stream; from the cache, checked as they flow (a stream of altered bytes errors
   * before its last chunk). `onError` hears a failure before the reader does.
   */
  open(onError?: (error: OndeviceError) => void): ReadableStream<Uint8Array>;
  /** The bytes, if they are held in memory (a small file, or one that could not be stored). */
  held(): Uint8Array | undefined;
}

export interface ReleaseFiles {
  name: string;
  version: string;
  variant: string;
  /** Each graph's files: its model first, then its external data, in the manifest's order. */
  graphs: Record<string, ReleaseFile[]>;
  assets: Record<string, ReleaseFile>;
  /** Whether this resolve asked the host (if not, a background check is due under `background`). */
  asked: boolean;
  /**
   * Reads the graphs' files into memory, to serve from there from now on: the cache keeps one variant
   * per version, so resolving another variant lets this one's graphs be collected.
   */
  hold(): Promise<void>;
}

/** Reads a whole file (a graph whose external-data names are rewritten, see transformers-hook.ts). */
export async function readReleaseFile(file: ReleaseFile, onError?: (error: OndeviceError) => void): Promise<Uint8Array> {
  return new Uint8Array(await new Response(file.open(onError)).arrayBuffer());
}

const fromBytes = (bytes: Uint8Array) => () =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });

/** Whether every file has its record in the store (a download whose storing failed is served from its bytes). */
async function allStored(store: CacheStore | undefined, files: readonly { sha256: string; size: number }[]): Promise<boolean> {
  if (!store) return false;
  const records = await Promise.all(files.map((f) => store.getFile(f.sha256).catch(() => undefined)));
  return records.every((r, i) => r?.size === files[i]!.size);
}

/**
 * Files up to this size are read whole when the version resolves, in one batch under their locks as
 * a load reads them, checked, and held: a stream per small file (a lock, a record, a handle, a hasher,
 * each a turn of a main thread that transformers.js keeps busy) cost more than its bytes. Above it,
 * a file streams from the store when it is read. Config and tokenizer files are held; weights stream.
 */
export const HELD_UP_TO = 4 * 1024 * 1024;

/** The variant's files and the assets of the version `rules` resolve to. `ctx.lazyAbove` is set here. */
export async function resolveFiles(url: string, rules: UpdateRules, ctx: ResolveContext): Promise<{ files: ReleaseFiles; resolved: Resolved }> {
  ctx.lazyAbove = HELD_UP_TO;
  let resolved = await resolveModel(url, rules, ctx);
  try {
    await resolved.verified;
  } catch (error) {
    if (!(error instanceof CacheMiss)) throw error;
    // A file read from the cache was altered (now deleted, its version dropped): resolved again, it is downloaded.
    resolved = await resolveModel(url, rules, ctx);
    await resolved.verified.catch((again: unknown) => {
      if (!(again instanceof CacheMiss)) throw again;
      throw new OndeviceError('INTEGRITY_MISMATCH', `The cached files of ${url} were altered twice in a row while reading them; try again.`, { details: { url } });
    });
  }
  if (!resolved.manifest || resolved.version === null || resolved.variant === null) {
    throw new OndeviceError('INPUT_INVALID', `${url} is a bare model file; transformersCache serves releases with a manifest (publish the repo folder with ondevice publish).`, { details: { input: 'models', actual: url } });
  }
  const listed = [...resolved.manifest.variants[resolved.variant]!.files, ...resolved.manifest.assets];
  // What was read or downloaded, by path (a cached version's big files were only found).
  const read = new Map(resolved.files.map((f) => [f.path, f.bytes]));
  const store = ctx.store;
  const stored = resolved.fromCache || (await allStored(store, listed));
  const entries = listed.map((f): ReleaseFile & { hold(): Promise<void> } => {
    const ref = { path: f.path, sha256: f.sha256, size: f.size };
    const label = `${resolved.name} ${resolved.version} ${f.path}`;
    // Small files are held (read now, or as downloaded); big ones stream from the store.
    let bytes = f.size <= HELD_UP_TO || !stored ? read.get(f.path) : undefined;
    if (!(stored && store) && !bytes) throw new OndeviceError('INTERNAL', `${label} was neither stored nor downloaded.`, { details: { url } });
    const open = (onError?: (error: OndeviceError) => void) => (bytes || !store ? fromBytes(bytes!)() : checkedStream(store, ref, { label, ...(onError && { onError }) }));
    return {
      ...ref,
      open,
      held: () => bytes,
      async hold() {
        bytes ??= new Uint8Array(await new Response(open()).arrayBuffer());
      },
    };
  });
  const parts = splitRelease(entries, resolved.manifest, resolved.variant);
  const graphFiles = parts.graphs.flatMap((g) => g.files);
  return {
    resolved,
    files: {
      name: resolved.name,
      version: resolved.version,
      variant: resolved.variant,
      graphs: Object.fromEntries(parts.graphs.map((g) => [g.name, g.files])),
      assets: Object.fromEntries(parts.assets),
      asked: resolved.asked,
      hold: async () => {
        await Promise.all(graphFiles.map((f) => f.hold()));
      },
    },
  };
}

/**
 * @file A release's files without a session: what `transformersCache` answers transformers.js with.
 * The same resolve as a load (cache or host, the update policy, signatures, revocations), for one
 * variant. A cached version is found, not read: each file is opened when transformers.js reads it, as
 * a stream from the store that is checked as it flows (cache/read-stream.ts), so no second copy of
 * the model is held; a version downloaded now is served from the store it was written to.
 */
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

/** The variant's files and the assets of the version `rules` resolve to. `ctx.lazy` is set here. */
export async function resolveFiles(url: string, rules: UpdateRules, ctx: ResolveContext): Promise<{ files: ReleaseFiles; resolved: Resolved }> {
  ctx.lazy = true;
  // A cached version is found by its files' records (a missing one is a miss, downloaded again); a
  // downloaded one was verified as it arrived.
  const resolved = await resolveModel(url, rules, ctx);
  if (!resolved.manifest || resolved.version === null || resolved.variant === null) {
    throw new OndeviceError('INPUT_INVALID', `${url} is a bare model file; transformersCache serves releases with a manifest (publish the repo folder with ondevice publish).`, { details: { input: 'models', actual: url } });
  }
  const listed = [...resolved.manifest.variants[resolved.variant]!.files, ...resolved.manifest.assets];
  const store = ctx.store;
  const stored = resolved.fromCache || (await allStored(store, listed));
  const entries = listed.map((f, i): ReleaseFile & { hold(): Promise<void> } => {
    const ref = { path: f.path, sha256: f.sha256, size: f.size };
    const label = `${resolved.name} ${resolved.version} ${f.path}`;
    let bytes = stored ? undefined : resolved.files[i]?.bytes;
    if (!(stored && store) && !bytes) throw new OndeviceError('INTERNAL', `${label} was neither stored nor downloaded.`, { details: { url } });
    const open = (onError?: (error: OndeviceError) => void) => (bytes || !store ? fromBytes(bytes!)() : checkedStream(store, ref, { label, ...(onError && { onError }) }));
    return {
      ...ref,
      open,
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

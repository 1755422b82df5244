/// <reference types="node" />
/** @file The release folder's manifest on disk: read, validate, write atomically. */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isOndeviceError } from '../errors.js';
import { parseManifest } from '../manifest/parse.js';
import { CliError } from './cli-error.js';

export interface ManifestJson {
  format: 'ondevice/1';
  name: string;
  version: string;
  runtime: string;
  variants: Record<string, { files: Array<{ path: string; size: number; sha256: string }>; requires?: string[] }>;
  inputs: unknown[];
  outputs: unknown[];
  metadata?: Record<string, unknown>;
  revoked?: string[];
  [field: string]: unknown;
}

/** `target` is a release folder or its manifest.json. */
export async function readManifestFile(target: string): Promise<{ manifest: ManifestJson; dir: string; path: string }> {
  const path = basename(target).endsWith('.json') ? target : join(target, 'manifest.json');
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const missing = code === 'ENOENT' || code === 'ENOTDIR';
    throw new CliError(missing ? `${path} does not exist: is this a release folder?` : `${path} is not valid JSON: ${(error as Error).message}`);
  }
  try {
    parseManifest(json, pathToFileURL(path).href);
  } catch (error) {
    if (isOndeviceError(error)) throw new CliError(error.message);
    throw error;
  }
  return { manifest: json as ManifestJson, dir: dirname(path), path };
}

/** Writes next to the target and renames over it: readers see the old file or the new one, never half. */
export async function writeAtomically(path: string, content: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(tmp, content);
  await rename(tmp, path);
}

/** @file The tiny BERT of models/tiny-bert (a transformers.js repo folder, two versions) published with the CLI, for the transformersCache tests. */
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const TINY_BERT = fileURLToPath(new URL('../../models/tiny-bert/', import.meta.url));

/** Sentences both vocabularies split differently (v2 knows "private", "offline", "browser", …). */
export const SENTENCES = ['Hello world, the model runs on device.', 'Private data never leaves the browser offline!', 'update the tokenizer weights'];

/**
 * Publishes `v1` (1.0.0 alone) and `both` (1.0.0, then 2.0.0 at the same URL) under `root`.
 * @param {string} root a folder path ending in `/`
 */
export async function tinyBertReleases(root) {
  const { main } = await import('../../src/cli/main.js');
  rmSync(root, { recursive: true, force: true });
  const io = { out: () => undefined, err: () => undefined };
  for (const argv of [
    ['publish', `${TINY_BERT}v1`, `${root}v1`, '--version', '1.0.0', '--name', 'tiny-bert'],
    ['publish', `${TINY_BERT}v1`, `${root}both`, '--version', '1.0.0', '--name', 'tiny-bert'],
    ['publish', `${TINY_BERT}v2`, `${root}both`, '--version', '2.0.0', '--name', 'tiny-bert'],
  ]) {
    if ((await main(argv, io)) !== 0) throw new Error(`ondevice ${argv.join(' ')} failed`);
  }
}

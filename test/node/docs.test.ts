/** @file The API reference's source: every option of loadModel documents its default and an example. */
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';

test('every LoadOptions field has a @default and an @example in its TSDoc', () => {
  const source = readFileSync(new URL('../../src/types.ts', import.meta.url), 'utf8');
  const body = /export interface LoadOptions \{([\s\S]*?)\n\}/.exec(source)?.[1] ?? '';
  const fields = [...body.matchAll(/\/\*\*([\s\S]*?)\*\/\s*\n\s*(\w+)\?:/g)].map((m) => ({ name: m[2]!, doc: m[1]! }));
  expect(fields.map((f) => f.name)).toEqual(expect.arrayContaining(['backend', 'variant', 'worker', 'update', 'version', 'signal']));
  for (const { name, doc } of fields) {
    expect(doc, name).toMatch(/@default /);
    expect(doc, name).toMatch(/@example /);
  }
  // Every field is documented: none without a comment before it.
  expect(fields).toHaveLength([...body.matchAll(/^\s{2}(\w+)\?:/gm)].length);
});

/**
 * @file The README and the guides stay true to the repository: every relative link names a file
 * that exists (and, with a #fragment, a heading in it), and the README stays short. Its examples
 * run as written in test/package (the browser one in the packed app, the Node one in a fresh
 * project).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const GUIDES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`), 'examples/electron/README.md'];

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
const anchor = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');

/** Markdown outside fenced code blocks. */
const prose = (text: string) => text.replace(/^```[\s\S]*?^```/gm, '');

function anchors(file: string): Set<string> {
  const text = prose(readFileSync(file, 'utf8'));
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchor(m[1]!)));
}

describe('docs', () => {
  test.each(GUIDES)('%s: every relative link resolves, to a heading where it names one', (doc) => {
    const path = join(ROOT, doc);
    const links = [...prose(readFileSync(path, 'utf8')).matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/.test(l));
    const broken = [];
    for (const link of links) {
      const [file = '', fragment] = link.split('#');
      const target = file ? resolve(dirname(path), file) : path;
      if (!existsSync(target)) broken.push(`${link} (no such file)`);
      else if (fragment && target.endsWith('.md') && !anchors(target).has(fragment)) broken.push(`${link} (no such heading)`);
    }
    expect(broken).toEqual([]);
  });

  test('the README stays a README: at most ~200 lines, the rest in docs/', () => {
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n').length).toBeLessThanOrEqual(200);
  });
});

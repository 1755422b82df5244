/** @file Runs the `ondevice` command in-process, as the CLI tests do, and collects what it prints. */
import { main } from '../../src/cli/main.js';

export async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

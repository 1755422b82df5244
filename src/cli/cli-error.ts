/// <reference types="node" />
/** @file An error the CLI reports as one line, with its exit code (1: failed, 2: bad usage). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
  }
}

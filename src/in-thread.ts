/** @file `worker: false`: the same model host, called in the caller's thread. */
import { directConnection, type HostConnection } from './pipeline/connection.js';
import { createModelHost, type ModelHost } from './pipeline/host.js';
import { allRuntimes } from './runtime/all.js';

let host: ModelHost | undefined;

export function inThreadConnection(): HostConnection {
  host ??= createModelHost({ runtimes: allRuntimes });
  return directConnection(host);
}

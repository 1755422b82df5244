/**
 * @file Carries `OndeviceError` (code, details, cause) across comlink. Comlink's built-in handler sends
 * only name, message and stack; this one replaces it and is installed on both sides.
 */
import { transferHandlers, type TransferHandler } from 'comlink';
import { errorFromWire, errorToWire, type WireError } from '../errors.js';

type Thrown = { value: unknown };
type Serialized = { isError: true; value: WireError } | { isError: false; value: unknown };

let installed = false;

export function installErrorTransfer(): void {
  if (installed) return;
  const builtin = transferHandlers.get('throw');
  if (!builtin) return;
  const handler: TransferHandler<Thrown, Serialized> = {
    // Reuse comlink's own test: its marker symbol is not exported.
    canHandle: (value): value is Thrown => builtin.canHandle(value),
    serialize: ({ value }) => [value instanceof Error || typeof value !== 'object' ? { isError: true, value: errorToWire(value) } : { isError: false, value }, []],
    deserialize: (serialized) => {
      throw serialized.isError ? errorFromWire(serialized.value) : serialized.value;
    },
  };
  transferHandlers.set('throw', handler as TransferHandler<unknown, unknown>);
  installed = true;
}

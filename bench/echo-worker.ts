/**
 * @file A worker that answers at once, for suite "decode"'s floor: what one round trip to a worker
 * costs with nothing on the other side, as a bare postMessage and through comlink (ondevice's channel).
 */
import { expose } from 'comlink';

self.addEventListener('message', (e: MessageEvent) => {
  if (typeof e.data === 'object' && e.data !== null && 'raw' in e.data) self.postMessage(e.data);
});
expose({ ping: (x: number) => x });

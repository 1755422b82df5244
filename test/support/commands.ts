/** @file Browser commands that reach past the page: the browser's real storage quota, through DevTools. */
import type { BrowserCommand } from 'vitest/node';

/** Sets the page origin's storage quota in bytes (Chromium's own accounting), or `null` to reset it. */
export const overrideQuota: BrowserCommand<[bytes: number | null]> = async (ctx, bytes) => {
  const { page, context } = ctx as unknown as { page: import('playwright-core').Page; context: import('playwright-core').BrowserContext };
  const cdp = await context.newCDPSession(page);
  const origin = new URL(page.url()).origin;
  await cdp.send('Storage.overrideQuotaForOrigin', bytes === null ? { origin } : { origin, quotaSize: bytes });
  await cdp.detach();
};

declare module 'vitest/browser' {
  interface BrowserCommands {
    overrideQuota: (bytes: number | null) => Promise<void>;
  }
}

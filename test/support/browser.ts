import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import type { DevServerOptions } from '../../dev/server.ts';
import { startTestDevServer } from './dev-server.ts';

/** Debian's Chromium, headless, with the flags this network-less machine needs. */
export function launchChromium(): Promise<Browser> {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`The browser tests need Chromium at ${executablePath}: sudo apt-get install chromium (or set CHROMIUM_PATH).`);
  }
  return chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
}

/**
 * A dev server (`options` as for startTestDevServer) and Chromium for the tests of a `describe`:
 * started before them, stopped after them. Read `server` and `browser` inside the tests.
 */
export function devServerAndChromium(options: DevServerOptions) {
  const context = {} as { server: Awaited<ReturnType<typeof startTestDevServer>>; browser: Browser };
  beforeAll(async () => {
    [context.server, context.browser] = await Promise.all([startTestDevServer(options), launchChromium()]);
  });
  afterAll(async () => {
    await context.browser?.close();
    await context.server?.close();
  });
  return context;
}

import type { Browser } from 'playwright-core';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './support/browser.ts';
import { startTestDevServer } from './support/dev-server.ts';

describe('durableFetch in Chromium, on a page served by the dev server', () => {
  let server: Awaited<ReturnType<typeof startTestDevServer>>;
  let browser: Browser;
  beforeAll(async () => {
    [server, browser] = await Promise.all([startTestDevServer({ publicDir: resolve('examples/public') }), launchChromium()]);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('calls /process with an injected failure, gets 202 (Prefer: respond-async) instead of a hidden 303, reports retrying and running, and shows the final result', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    const answers: string[] = [];
    page.on('response', (response) => {
      const path = new URL(response.url()).pathname;
      if (path === '/process' || path.startsWith('/runs/')) answers.push(`${response.status()} ${path.replace(/[0-9A-Z]{26}$/, ':id')} ${response.headers()['preference-applied'] ?? ''}`.trim());
    });
    await page.goto(`${server.url}/`);

    await page.check('#inject');
    await page.click('#process');
    await page.waitForFunction(() => document.getElementById('result')!.textContent!.includes('success'), undefined, { timeout: 20_000 });

    expect(JSON.parse((await page.textContent('#result'))!)).toMatchObject({ success: true, result: { fields: 1 } });
    const statuses = await page.locator('#statuses li').allTextContents();
    expect(statuses[0]).toMatch(/^retrying/);
    expect(statuses).toContainEqual(expect.stringMatching(/^running/));
    expect(statuses).toContainEqual(expect.stringMatching(/^completed/));
    expect(answers[0]).toBe('202 /process respond-async');
    expect(answers.at(-1)).toBe('200 /runs/:id');
    expect(statuses.at(-1)).toMatch(/^HTTP 200 after \d+ ms$/);
    expect(errors).toEqual([]);
  });

  it('places an order, approves it with an event from the page, and shows approved: true', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}/`);

    await page.fill('#order-id', 'browser-order-1');
    await page.click('#order');
    // Whether the event lands before or after the order starts waiting, it counts (the look-back window).
    await page.click('#approve');
    await page.waitForFunction(() => document.getElementById('result')!.textContent!.includes('approved'), undefined, { timeout: 20_000 });

    expect(JSON.parse((await page.textContent('#result'))!)).toEqual({ orderId: 'browser-order-1', approved: true });
  });
});

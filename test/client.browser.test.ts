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
    expect(statuses[0]).toMatch(/^POST \/process sent · \d+\.\d s$/);
    expect(statuses[1]).toMatch(/^retrying \(run [0-9A-Z]{26}\) · \d+\.\d s$/);
    expect(statuses).toContainEqual(expect.stringMatching(/^running \(run [0-9A-Z]{26}\)/));
    expect(statuses).toContainEqual(expect.stringMatching(/^completed \(run [0-9A-Z]{26}\)/));
    expect(statuses.at(-1)).toMatch(/^HTTP 200 · \d+\.\d s$/);
    expect(await page.locator('#waiting').isHidden()).toBe(true);
    expect(answers[0]).toBe('202 /process respond-async');
    expect(answers.at(-1)).toBe('200 /runs/:id');
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

describe('the example page while a call waits, and when the dev server stops', () => {
  let server: Awaited<ReturnType<typeof startTestDevServer>>;
  let browser: Browser;
  beforeAll(async () => {
    [server, browser] = await Promise.all([
      startTestDevServer({
        publicDir: resolve('examples/public'),
        endpoints: [{ routeKey: 'GET /remind', entry: resolve('examples/remind.ts'), handler: 'handler', format: '2.0', timeoutMs: 29_000, functionName: 'Remind' }],
      }),
      launchChromium(),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('shows how long the call has waited, then the error on the page instead of in the console', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${server.url}/`);

    await page.click('#remind'); // sleeps 5 s: the browser waits on the results URL meanwhile
    await page.waitForFunction(() => /^Waiting for the response… [1-9]\d* s$/.test(document.getElementById('waiting')!.textContent!), undefined, { timeout: 10_000 });
    expect(await page.locator('#statuses li').first().textContent()).toMatch(/^GET \/remind\?after=5s sent/);

    await server.close();

    await page.waitForFunction(() => document.getElementById('result')!.classList.contains('error'), undefined, { timeout: 15_000 });
    expect(await page.textContent('#result')).toMatch(/^The call failed: TypeError: Failed to fetch\. Is the dev server still running/);
    expect(await page.locator('#statuses li').last().textContent()).toMatch(/^failed: Failed to fetch · /);
    expect(await page.locator('#waiting').isHidden()).toBe(true);
    expect(errors).toEqual([]);
  });
});

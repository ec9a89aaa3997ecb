import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './support/browser.ts';
import { postProcess, startTestDevServer } from './support/dev-server.ts';

describe('the dev dashboard in Chromium', () => {
  let server: Awaited<ReturnType<typeof startTestDevServer>>;
  let browser: Browser;
  beforeAll(async () => {
    [server, browser] = await Promise.all([startTestDevServer(), launchChromium()]);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('lists a run and shows its step waterfall with the retried step', async () => {
    const response = await postProcess(server.url, { 'x-durable-inject-failure': 'process:1:3s' });
    expect(response.status).toBe(200);
    const runId = response.headers.get('x-durable-run-id')!;
    const page = await browser.newPage();

    await page.goto(`${server.url}/_durable/`);
    const row = page.locator(`tr[data-run-id="${runId}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain('completed');
    await row.click();

    const processStep = page.locator('[data-step-id="process"]');
    await processStep.waitFor();
    expect(await processStep.getAttribute('data-attempts')).toBe('2');
    expect(await processStep.locator('.step-info').textContent()).toContain('completed · 2 attempts');
    expect(await page.locator('[data-step-id="enrich-data"]').getAttribute('data-attempts')).toBe('1');
    expect(await page.locator('#detail-status').textContent()).toBe('completed');
    expect(await page.locator('#response').textContent()).toContain('"success":true');
    if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  });

  it('filters the list by status, refreshing live', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}/_durable/`);
    await page.selectOption('#status-filter', 'failed');
    await page.waitForFunction(() => document.querySelectorAll('#run-rows tr').length === 0);

    await postProcess(server.url, { 'x-durable-inject-failure': 'enrich-data:9:1ms' });
    await page.waitForSelector('#run-rows tr .status-failed');
    expect(await page.locator('#run-rows tr').count()).toBe(1);
  });
});

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

  it('replays a failed run from its page', async () => {
    // Injected failures outlast the retries; the header is replayed too, so the replay fails again,
    // one attempt later: what the test checks is that the button reopened and resumed the run.
    const failed = await postProcess(server.url, { 'x-durable-inject-failure': 'notify:9:1ms' });
    expect(failed.status).toBe(500);
    const runId = failed.headers.get('x-durable-run-id')!;
    const page = await browser.newPage();
    await page.goto(`${server.url}/_durable/#/runs/${runId}`);
    await page.locator('#replay').waitFor();
    expect(await page.locator('#detail-meta').textContent()).toContain('attempt 1');

    await page.click('#replay');

    await page.waitForFunction(() => document.getElementById('detail-meta')!.textContent!.includes('attempt 2'), undefined, { timeout: 15_000 });
    await page.waitForFunction(() => document.getElementById('detail-status')!.textContent === 'failed', undefined, { timeout: 15_000 });
    expect(await page.locator('[data-step-id="enrich-data"]').getAttribute('data-attempts')).toBe('1');
  });

  it('filters the list by status, refreshing live', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}/_durable/`);
    await page.selectOption('#status-filter', 'failed');
    const { runs } = await (await fetch(`${server.url}/_durable/api/runs?status=failed`)).json();
    await page.waitForFunction((n) => document.querySelectorAll('#run-rows tr').length === n, runs.length);

    const failed = await postProcess(server.url, { 'x-durable-inject-failure': 'enrich-data:9:1ms' });
    const runId = failed.headers.get('x-durable-run-id')!;
    await page.waitForSelector(`tr[data-run-id="${runId}"] .status-failed`);
    expect(await page.locator('#run-rows tr').count()).toBe(runs.length + 1);
    expect(await page.locator('#run-rows tr .status-completed').count()).toBe(0);
  });

  it('shows limited keys with the requests they refused', async () => {
    const ip = '203.0.113.9';
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await fetch(`${server.url}/quote?symbol=ACME`, { headers: { 'x-forwarded-for': ip } })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    const page = await browser.newPage();

    await page.goto(`${server.url}/_durable/`);

    const row = page.locator(`tr[data-flow-key="GET /quote|rateLimit|${ip}"]`);
    await row.waitFor();
    expect(await row.locator('.flow-limit').textContent()).toMatch(/^GET \/quote · rateLimit 5\/10s/);
    expect(await row.locator('.flow-rejected').textContent()).toBe('1');
  });
});

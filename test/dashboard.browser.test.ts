import { resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './support/browser.ts';
import { postProcess, startTestDevServer } from './support/dev-server.ts';

// The research agent at a twentieth of its fakes' latency: a run takes under two seconds.
process.env.RESEARCH_LATENCY_SCALE = '0.05';

// A laptop's screen: the size the dashboard is checked at.
const viewport = { width: 1280, height: 800 };

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
    const page = await browser.newPage({ viewport });

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

  it('shows what each step streamed: the committed chunks, and those of the attempt that failed, rolled back', async () => {
    const response = await fetch(`${server.url}/research?topic=wind`, { headers: { 'x-durable-inject-failure': 'report:1@3' } });
    expect(response.status).toBe(200);
    const { report } = await response.json();
    const runId = response.headers.get('x-durable-run-id')!;
    const page = await browser.newPage({ viewport });

    await page.goto(`${server.url}/_durable/#/runs/${runId}`);
    const reportStep = page.locator('[data-step-id="report"]');
    await reportStep.locator('.chunks.committed').waitFor();

    const committed = await reportStep.locator('.chunks.committed li').allTextContents();
    expect(committed.map((chunk) => JSON.parse(chunk).text).join('')).toBe(report);
    expect(await reportStep.locator('.chunks.committed .chunks-title').textContent()).toBe(`streamed: ${committed.length} chunks, committed (#13)`);
    const rolledBack = reportStep.locator('.chunks.rolled-back[data-try="1"]');
    expect(await rolledBack.locator('.chunks-title').textContent()).toBe('rolled back: 3 chunks of attempt 1');
    expect(await rolledBack.locator('li').allTextContents()).toEqual(committed.slice(0, 3));
    expect(await page.locator('[data-step-id="plan"] .chunks.committed li').textContent()).toMatch(/^\{"type":"queries","queries":\["wind overview"/);
  });

  it('replays a failed run from its page, without the faults its request injected', async () => {
    // Injected failures outlast the retries: the run fails for good.
    const failed = await postProcess(server.url, { 'x-durable-inject-failure': 'notify:9:1ms' });
    expect(failed.status).toBe(500);
    const runId = failed.headers.get('x-durable-run-id')!;
    const page = await browser.newPage({ viewport });
    await page.goto(`${server.url}/_durable/#/runs/${runId}`);
    await page.locator('#replay').waitFor();
    expect(await page.locator('#detail-meta').textContent()).toContain('attempt 1');

    await page.click('#replay');

    await page.waitForFunction(() => document.getElementById('detail-status')!.textContent === 'completed', undefined, { timeout: 15_000 });
    expect(await page.locator('#detail-meta').textContent()).toContain('attempt 2');
    expect(await page.locator('#detail-meta').textContent()).toMatch(/replayed .* without injected faults/);
    expect(await page.locator('#replay-note').textContent()).toContain('without the faults its request injected (notify:9:1ms)');
    expect(await page.locator('[data-step-id="enrich-data"]').getAttribute('data-attempts')).toBe('1');
    expect(await page.locator('[data-step-id="notify"]').getAttribute('data-status')).toBe('completed');
  });

  it('filters the list by status, refreshing live', async () => {
    const page = await browser.newPage({ viewport });
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

/** How far each cell of the runs table reaches past the visible part of the runs pane (0: none). */
function cutOff(page: Page) {
  return page.evaluate(() => {
    const pane = document.getElementById('runs')!.getBoundingClientRect();
    const cells = [...document.querySelectorAll('#runs th, #runs tbody tr:first-child td')];
    return Object.fromEntries(cells.map((cell) => [cell.textContent, Math.max(0, Math.round(cell.getBoundingClientRect().right - pane.right))]));
  });
}

describe('the dev dashboard at the edges: narrow screens, empty lists, a stopped server', () => {
  let server: Awaited<ReturnType<typeof startTestDevServer>>;
  let browser: Browser;
  beforeAll(async () => {
    [server, browser] = await Promise.all([
      startTestDevServer({ endpoints: [{ routeKey: 'POST /process', entry: resolve('examples/process.ts'), handler: 'handler', format: '2.0', timeoutMs: 10_000, functionName: 'Process' }] }),
      launchChromium(),
    ]);
  });
  let stopped = false;
  afterAll(async () => {
    await browser?.close();
    if (!stopped) await server?.close();
  });

  it('with no runs yet, suggests a curl command for this server that follows the 303 without POSTing the results URL', async () => {
    const page = await browser.newPage({ viewport });
    await page.goto(`${server.url}/_durable/`);

    await page.locator('#no-runs').waitFor();

    expect(await page.locator('#no-runs code').textContent()).toBe(`curl -L ${server.url}/process -d '{"userId":"u1","data":{}}'`);
  });

  it('shows every column of the runs list beside the open run, at 1280 and 1100 px', async () => {
    const response = await postProcess(server.url, { 'x-durable-inject-failure': 'process:1' });
    const runId = response.headers.get('x-durable-run-id')!;
    for (const width of [1280, 1100]) {
      const page = await browser.newPage({ viewport: { width, height: 800 } });
      await page.goto(`${server.url}/_durable/#/runs/${runId}`);
      await page.locator('[data-step-id="process"]').waitFor();

      const cut = await cutOff(page);
      expect(Object.keys(cut)).toEqual(expect.arrayContaining(['Attempt', 'Started', runId]));
      expect(Object.entries(cut).filter(([, px]) => px > 0), `cut off at ${width} px`).toEqual([]);
      const runs = (await page.locator('#runs').boundingBox())!;
      const detail = (await page.locator('#detail').boundingBox())!;
      expect(detail.x).toBeGreaterThanOrEqual(runs.x + runs.width - 1);
      expect(detail.x + detail.width).toBeLessThanOrEqual(width);
    }
  });

  it('says that no run matches the filters, and closes the open run when the filters leave it out', async () => {
    const response = await postProcess(server.url);
    const runId = response.headers.get('x-durable-run-id')!;
    const page = await browser.newPage({ viewport });
    await page.goto(`${server.url}/_durable/#/runs/${runId}`);
    await page.locator('#detail-status').waitFor();

    await page.selectOption('#status-filter', 'failed');

    await page.waitForFunction(() => !document.getElementById('no-runs')!.hidden);
    expect(await page.locator('#no-runs').textContent()).toBe('No runs match these filters.');
    await page.waitForFunction(() => document.getElementById('detail')!.hidden);

    await page.selectOption('#status-filter', '');

    await page.waitForFunction(() => !document.getElementById('detail')!.hidden);
    expect(await page.locator('#no-runs').isHidden()).toBe(true);
  });

  it('says in red that the dev server is unreachable once it stops', async () => {
    const page = await browser.newPage({ viewport });
    await page.goto(`${server.url}/_durable/`);
    await page.locator('#live.live-ok').waitFor();
    const live = await page.locator('#live').evaluate((node) => getComputedStyle(node).color);

    await server.close();
    stopped = true;

    await page.locator('#live.live-down').waitFor({ timeout: 10_000 });
    expect(await page.locator('#live').textContent()).toBe('○ dev server unreachable');
    const down = await page.locator('#live').evaluate((node) => getComputedStyle(node).color);
    expect(down).toBe('rgb(185, 28, 28)'); // --bad, as failed runs
    expect(down).not.toBe(live);
  });
});

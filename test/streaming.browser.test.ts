/**
 * Streaming in Chromium, against the dev server: the example page shows the research agent's stream
 * live with a rollback, and `durableStream` in the page continues after a hand-off or a failure
 * redirect and across a dropped connection, committing each chunk once and ending with the run's
 * response.
 */
import { resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { devServerAndChromium } from './support/browser.ts';
import { cuttingFetch } from './support/sse.ts';

// A tenth of the fakes' latency: the research run takes about 3 s.
process.env.RESEARCH_LATENCY_SCALE = '0.1';
const fixture = resolve('test/fixtures/streaming.ts');

interface PageRun {
  events: { type: string; step?: string; chunks?: unknown[]; url?: string }[];
  chunks: { step: string; data: unknown; committed: boolean }[];
  response: { status: number; body: string };
  plain: { status: number; body: string };
  requests: { url: string; lastEventId: string | null }[];
}

/** Runs `durableStream` in the page, optionally cutting its first response after its first commit, as a network would. */
async function streamInPage(page: Page, path: string, init: { headers?: Record<string, string>; body: string }, cut = false): Promise<PageRun> {
  await page.addScriptTag({ type: 'module', content: `import { durableStream } from '/_durable/client.js'; window.durableStream = durableStream; window.cuttingFetch = ${cuttingFetch.toString()};` });
  await page.waitForFunction(() => 'durableStream' in window);
  return page.evaluate(
    async ({ path, init, cut }) => {
      const { durableStream } = window as unknown as { durableStream: typeof import('durable-endpoints/client').durableStream };
      const sent: Request[] = [];
      const cutting = (window as unknown as { cuttingFetch: typeof cuttingFetch }).cuttingFetch;
      const events: PageRun['events'] = [];
      const run = durableStream(path, { method: 'POST', ...init, ...(cut ? { fetch: cutting(sent) } : {}) });
      for await (const event of run) events.push({ type: event.type, step: 'step' in event ? event.step : undefined, chunks: 'chunks' in event ? event.chunks : undefined, url: 'url' in event ? event.url : undefined });
      const response = await run.response;
      const plain = await fetch(run.resultUrl!);
      const requests = sent.map((request) => ({ url: request.url, lastEventId: request.headers.get('last-event-id') }));
      return { events, chunks: run.chunks(), response: { status: response.status, body: await response.text() }, plain: { status: plain.status, body: await plain.text() }, requests };
    },
    { path, init, cut },
  );
}

const parts = (count: number, chunks: number) => Array.from({ length: count * chunks }, (_, i) => ({ step: `part-${Math.floor(i / chunks)}`, data: `part ${Math.floor(i / chunks)} chunk ${i % chunks}`, committed: true }));

describe('streaming in Chromium', () => {
  const context = devServerAndChromium({
    publicDir: resolve('examples/public'),
    endpoints: [
      { routeKey: 'GET /research', entry: resolve('examples/research/handler.ts'), handler: 'handler', format: '2.0', timeoutMs: 300_000, functionName: 'Research' },
      { routeKey: 'POST /write', entry: fixture, handler: 'write', format: '1.0', timeoutMs: 60_000, functionName: 'Write' },
      { routeKey: 'POST /write-handing-off', entry: fixture, handler: 'writeHandingOff', format: '1.0', timeoutMs: 60_000, functionName: 'WriteHandingOff' },
    ],
  });

  it('shows the research stream live on the example page: the report rolled back when it fails, then written again and committed', async () => {
    const page = await context.browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${context.server.url}/`);

    await page.check('#research-fail');
    await page.click('#research');
    await page.waitForSelector('#stream li.rolled-back[data-step="report"]', { timeout: 20_000 });
    await page.waitForFunction(() => document.getElementById('result')!.textContent!.includes('"report"'), undefined, { timeout: 20_000 });

    const { report } = JSON.parse((await page.textContent('#result'))!);
    expect(await page.locator('#stream li.rolled-back[data-step="report"]').count()).toBe(3);
    const written = await page.locator('#stream li.committed[data-step="report"]').evaluateAll((items) => items.map((li) => li.lastChild!.textContent).join(''));
    expect(written).toBe(report);
    expect(await page.locator('#stream li.provisional').count()).toBe(0);
    expect(await page.locator('#stream li.committed', { hasText: 'planned:' }).count()).toBe(2);
    expect(await page.locator('#stream li.committed', { hasText: 'reading ' }).count()).toBe(10);
    const statuses = await page.locator('#statuses li').allTextContents();
    expect(statuses).toContainEqual(expect.stringMatching(/^rolled back 3 chunk\(s\) of report: its attempt failed/));
    expect(statuses.at(-1)).toMatch(/^HTTP 200 · /);
    expect(errors).toEqual([]);
  });

  it('commits each chunk once after a hand-off, and ends with the run’s non-streaming response', async () => {
    const page = await context.browser.newPage();
    await page.goto(`${context.server.url}/_durable/`);

    const run = await streamInPage(page, '/write-handing-off', { body: JSON.stringify({ key: 'browser-handoff', parts: 3, chunks: 2, slowFirst: 1_500 }) });

    expect(run.events.filter((e) => e.type === 'rollback').map((e) => e.step)).toEqual(['part-2']);
    expect(run.events.filter((e) => e.type === 'redirect')).toHaveLength(1);
    expect(run.chunks).toEqual(parts(3, 2));
    expect(run.events.filter((e) => e.type === 'commit').flatMap((e) => e.chunks)).toEqual(parts(3, 2).map((c) => c.data));
    expect(run.response).toEqual(run.plain);
  });

  it('rolls back a failed attempt and commits the resumed one after a failure redirect', async () => {
    const page = await context.browser.newPage();
    await page.goto(`${context.server.url}/_durable/`);

    const run = await streamInPage(page, '/write', { headers: { 'x-durable-inject-failure': 'part-1:1@1:3s' }, body: JSON.stringify({ key: 'browser-redirect', parts: 2, chunks: 2 }) });

    expect(run.events.filter((e) => e.type === 'rollback')).toEqual([{ type: 'rollback', step: 'part-1', chunks: ['part 1 chunk 0'] }]);
    expect(run.events.map((e) => e.type)).toContain('redirect');
    expect(run.chunks).toEqual(parts(2, 2));
    expect(run.response).toEqual(run.plain);
    expect(JSON.parse(run.response.body)).toEqual({ key: 'browser-redirect', done: [0, 1] });
  });

  it('reconnects with Last-Event-ID after the connection drops, losing nothing and repeating nothing', async () => {
    const page = await context.browser.newPage();
    await page.goto(`${context.server.url}/_durable/`);

    const run = await streamInPage(page, '/write', { body: JSON.stringify({ key: 'browser-drop', parts: 3, chunks: 2, ms: 50 }) }, true);

    expect(run.events.filter((e) => e.type === 'reconnect')).toHaveLength(1);
    expect(run.requests[1]).toEqual({ url: expect.stringMatching(/\/runs\/[0-9A-Z]{26}\?token=/), lastEventId: '1' });
    expect(run.chunks).toEqual(parts(3, 2));
    expect(run.events.filter((e) => e.type === 'commit').flatMap((e) => e.chunks)).toEqual(parts(3, 2).map((c) => c.data));
    expect(run.response).toEqual(run.plain);
  });
});

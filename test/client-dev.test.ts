import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { durableFetch, type DurableStatus } from '../sdk/client/index.ts';
import { processBody, startTestDevServer } from './support/dev-server.ts';

describe('durableFetch against the dev server', () => {
  let server: Awaited<ReturnType<typeof startTestDevServer>>;
  let slow: Awaited<ReturnType<typeof startTestDevServer>>;
  beforeAll(async () => {
    // A 1 s long-poll (20 s as deployed) so that a run outlives several polls quickly.
    server = await startTestDevServer({ resultsWaitSeconds: 1 });
    slow = await startTestDevServer({
      endpoints: [{ routeKey: 'POST /slow-start', entry: resolve('test/fixtures/slow-start.ts'), handler: 'handler', format: '2.0', timeoutMs: 10_000, functionName: 'SlowStart' }],
    });
  });
  afterAll(async () => {
    await server.close();
    await slow.close();
  });

  const process = (headers: Record<string, string> = {}, init: Parameters<typeof durableFetch>[1] = {}) =>
    durableFetch(`${server.url}/process`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(processBody), ...init });

  it('returns a direct result with its run id', async () => {
    const statuses: DurableStatus[] = [];
    const response = await process({}, { onStatus: (e) => statuses.push(e.status) });

    expect(response.status).toBe(200);
    expect(response.headers.get('x-durable-run-id')).toMatch(/^[0-9A-Z]{26}$/);
    expect(statuses).toEqual(['completed']);
  });

  it('returns the final result after an injected failure sends the run asynchronous', async () => {
    const statuses: DurableStatus[] = [];
    const response = await process({ 'x-durable-inject-failure': 'process:1:3s' }, { onStatus: (e) => statuses.push(e.status) });

    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ success: true });
    expect(statuses[0]).toBe('retrying');
    expect(statuses.at(-1)).toBe('completed');
  });

  it('keeps polling a run that is still going after a long-poll ends', async () => {
    const statuses: DurableStatus[] = [];
    // Waiting for an event, the run says "come back at once" (Retry-After: 1): every 1 s long-poll ends
    // with the run still going, until its 3 s timeout.
    const response = await durableFetch(`${server.url}/orders`, {
      method: 'POST',
      body: JSON.stringify({ orderId: 'never-approved', approvalTimeout: '3s' }),
      onStatus: (e) => statuses.push(e.status),
    });

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ orderId: 'never-approved', approved: false });
    expect(statuses[0]).toBe('retrying');
    expect(statuses.filter((s) => s === 'running').length).toBeGreaterThanOrEqual(2);
  });

  it('returns the failed-run response and reports failed', async () => {
    const statuses: DurableStatus[] = [];
    const response = await process({ 'x-durable-inject-failure': 'enrich-data:9:1ms' }, { onStatus: (e) => statuses.push(e.status) });

    expect(response.status).toBe(500);
    expect(await response.json()).toMatchObject({ status: 'failed', error: { message: expect.stringContaining('Injected failure') } });
    expect(statuses.at(-1)).toBe('failed');
  });

  it('with idempotent: true, waits out a 409 while the first request with its key has not reached a step, then gets that run', async () => {
    const key = `slow-${Date.now()}`;
    const first = fetch(`${slow.url}/slow-start`, { method: 'POST', headers: { 'idempotency-key': key }, body: '{}' });
    await new Promise((r) => setTimeout(r, 200));

    const repeat = await durableFetch(`${slow.url}/slow-start`, { method: 'POST', idempotent: true, headers: { 'idempotency-key': key }, body: '{}' });
    const original = await first;

    expect(repeat.status).toBe(201);
    expect(await repeat.text()).toBe(await original.text());
    expect(repeat.headers.get('x-durable-run-id')).toBe(original.headers.get('x-durable-run-id'));
  });

  it('stops waiting when aborted, while the run goes on', async () => {
    const controller = new AbortController();
    let runId: string | undefined;
    const pending = process({ 'x-durable-inject-failure': 'process:1:3s' }, {
      signal: controller.signal,
      onStatus: (e) => {
        runId ??= e.runId;
        if (e.status === 'retrying') controller.abort(new Error('user left'));
      },
    });

    await expect(pending).rejects.toThrow('user left');
    const detail = await (await fetch(`${server.url}/_durable/api/runs/${runId}`)).json();
    expect(['running', 'completed']).toContain(detail.run.status);
  });
});

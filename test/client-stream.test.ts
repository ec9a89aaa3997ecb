/**
 * `durableStream` from `durable-endpoints/client`, in Node, against the dev server: rollbacks
 * applied, a redirect followed, a dropped connection resumed with `Last-Event-ID`, and the final
 * `Response`.
 */
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { durableStream, type StreamEvent } from 'durable-endpoints/client';
import { startTestDevServer } from './support/dev-server.ts';
import { cuttingFetch } from './support/sse.ts';

const fixture = resolve('test/fixtures/streaming.ts');
const parts = (count: number, chunks: number) => Array.from({ length: count * chunks }, (_, i) => ({ step: `part-${Math.floor(i / chunks)}`, data: `part ${Math.floor(i / chunks)} chunk ${i % chunks}`, committed: true }));
const summary = (event: StreamEvent) => (event.type === 'chunk' ? `chunk ${event.data}` : event.type === 'rollback' || event.type === 'commit' ? `${event.type} ${event.step} ${JSON.stringify(event.chunks)}` : event.type);

describe('durableStream in Node', () => {
  let server: Awaited<ReturnType<typeof startTestDevServer>>;
  beforeAll(async () => {
    server = await startTestDevServer({ endpoints: [{ routeKey: 'POST /write', entry: fixture, handler: 'write', format: '1.0', timeoutMs: 60_000, functionName: 'Write' }] });
  });
  afterAll(() => server?.close());

  let keys = 0;
  const write = (body: Record<string, unknown>, headers: Record<string, string> = {}) => ({ method: 'POST', headers, body: JSON.stringify({ key: `client-${keys++}`, ...body }) });

  it('yields chunks as they come, applies a rollback, and ends with the final Response', async () => {
    const run = durableStream(`${server.url}/write`, write({ parts: 2, chunks: 2 }, { 'x-durable-inject-failure': 'part-1:1@1' }));

    const events: string[] = [];
    for await (const event of run) events.push(summary(event));

    // The commit of part-0 arrives once its write is stored: before or after part-1 began.
    expect(events.filter((e) => !e.includes('part-0') && !e.includes('part 0'))).toEqual([
      'metadata',
      'chunk part 1 chunk 0',
      'rollback part-1 ["part 1 chunk 0"]',
      'chunk part 1 chunk 0',
      'chunk part 1 chunk 1',
      'commit part-1 ["part 1 chunk 0","part 1 chunk 1"]',
      'response',
    ]);
    expect(events.filter((e) => e.startsWith('commit'))).toEqual(['commit part-0 ["part 0 chunk 0","part 0 chunk 1"]', 'commit part-1 ["part 1 chunk 0","part 1 chunk 1"]']);
    expect(events.filter((e) => e.startsWith('rollback'))).toEqual(['rollback part-1 ["part 1 chunk 0"]']);
    expect(events.at(-1)).toBe('response');
    expect(run.chunks()).toEqual(parts(2, 2));
    const response = await run.response;
    expect(response.status).toBe(200);
    expect(response.headers.get('x-durable-run-id')).toBe(run.runId);
    expect(await response.json()).toEqual({ key: expect.any(String), done: [0, 1] });
  });

  it('follows the redirect of a failure redirect to the results URL and ends with the run’s response', async () => {
    const events: StreamEvent[] = [];
    const run = durableStream(`${server.url}/write`, { ...write({ parts: 2, chunks: 2 }, { 'x-durable-inject-failure': 'part-1:1@1:3s' }), onEvent: (event) => events.push(event) });

    const response = await run.response;

    expect(events.map((e) => e.type)).toContain('redirect');
    expect(run.chunks()).toEqual(parts(2, 2));
    expect(await response.json()).toEqual({ key: expect.any(String), done: [0, 1] });
  });

  it('reconnects with Last-Event-ID after the connection drops: nothing lost, nothing repeated', async () => {
    const sent: Request[] = [];
    const events: StreamEvent[] = [];
    const run = durableStream(`${server.url}/write`, { ...write({ parts: 3, chunks: 2, ms: 50 }), fetch: cuttingFetch(sent), onEvent: (event) => events.push(event) });

    const response = await run.response;

    expect(events.filter((e) => e.type === 'reconnect')).toHaveLength(1);
    expect(sent[1]!.url).toBe(run.resultUrl);
    expect(sent[1]!.headers.get('last-event-id')).toMatch(/^1$/);
    expect(run.chunks()).toEqual(parts(3, 2));
    const committed = events.flatMap((e) => (e.type === 'commit' ? e.chunks : []));
    expect(committed).toEqual(parts(3, 2).map((c) => c.data));
    expect(await response.json()).toEqual({ key: expect.any(String), done: [0, 1, 2] });
  });
});

/**
 * Streaming end to end on the dev server, over HTTP: the endpoint's event stream goes through the
 * handler worker and the gateway emulation as it is produced; the results URL continues it after a
 * hand-off, a failure redirect or a dropped connection.
 */
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDevServer } from './support/dev-server.ts';
import { eventReader, reduce, type Event } from './support/sse.ts';

const fixture = resolve('test/fixtures/streaming.ts');

describe('event streams on the dev server', () => {
  let server: Awaited<ReturnType<typeof startTestDevServer>>;
  beforeAll(async () => {
    server = await startTestDevServer({
      endpoints: [
        { routeKey: 'POST /write', entry: fixture, handler: 'write', format: '1.0', timeoutMs: 60_000, functionName: 'Write' },
        { routeKey: 'POST /write-handing-off', entry: fixture, handler: 'writeHandingOff', format: '1.0', timeoutMs: 60_000, functionName: 'WriteHandingOff' },
      ],
    });
  });
  afterAll(() => server?.close());

  let keys = 0;
  const write = (body: Record<string, unknown>, headers: Record<string, string> = {}, init: RequestInit = {}, path = '/write') =>
    fetch(`${server.url}${path}`, { method: 'POST', headers: { accept: 'text/event-stream', ...headers }, body: JSON.stringify({ key: `k${keys++}`, ...body }), ...init });
  const follow = async (url: string, lastEventId: string) => {
    const response = await fetch(url, { headers: { accept: 'text/event-stream', 'last-event-id': lastEventId } });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    return eventReader(response.body!).all();
  };
  const plainResult = async (url: string) => {
    const response = await fetch(url);
    return { status: response.status, headers: Object.fromEntries(response.headers), body: await response.text() };
  };
  const line = (e: Event) => `${e.event}:${e.data.data ?? e.data.step ?? ''}`;
  const allParts = (parts: number, chunks: number) => Array.from({ length: parts * chunks }, (_, i) => ({ step: `part-${Math.floor(i / chunks)}`, data: `part ${Math.floor(i / chunks)} chunk ${i % chunks}` }));

  it('streams as the steps push, rolls back a step attempt that fails mid-stream and commits its retry', async () => {
    const response = await write({ parts: 2, chunks: 2 }, { 'x-durable-inject-failure': 'part-1:1@1' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);

    const events = await eventReader(response.body!).all();

    const part1 = events.filter((e) => e.data.step === 'part-1').map(line);
    expect(part1).toEqual(['stream:part 1 chunk 0', 'rollback:part-1', 'stream:part 1 chunk 0', 'stream:part 1 chunk 1', 'commit:part-1']);
    expect(reduce(events).committed).toEqual(allParts(2, 2));
    const final = events.at(-1)!;
    expect(final.event).toBe('response');
    const plain = await plainResult(events[0]!.data.resultUrl as string);
    expect(final.data).toEqual({ status: plain.status, headers: expect.objectContaining({ 'content-type': 'application/json', 'x-durable-run-id': plain.headers['x-durable-run-id'] }), body: plain.body });
    expect(JSON.parse(plain.body)).toEqual({ key: expect.any(String), done: [0, 1] });
  });

  it('continues after a hand-off at the results URL: every committed chunk once, and the same final response', async () => {
    const response = await write({ parts: 3, chunks: 2, slowFirst: 1_500 }, {}, {}, '/write-handing-off');

    const direct = await eventReader(response.body!).all();
    expect(direct.slice(-2).map(line)).toEqual(['rollback:part-2', 'redirect:']);
    const rest = await follow(direct.at(-1)!.data.url as string, direct.at(-1)!.id);

    expect(reduce([...direct, ...rest]).committed).toEqual(allParts(3, 2));
    expect(JSON.parse(rest.at(-1)!.data.body as string)).toEqual({ key: expect.any(String), done: [0, 1, 2] });
    const plain = await plainResult(direct[0]!.data.resultUrl as string);
    expect(rest.at(-1)!.data).toMatchObject({ status: plain.status, body: plain.body });
    expect(server.lines.some((l) => l.includes('handing off to a new invocation'))).toBe(true);
  });

  it('continues after a failure redirect: the resumed attempt streams to the results URL as it works', async () => {
    const gate = `gate-${keys}`;
    // Retried after 3 s, past what is waited inline (2 s): a failure redirect.
    const response = await write({ parts: 2, chunks: 3, gate }, { 'x-durable-inject-failure': 'part-1:1@1:3s' });

    const direct = await eventReader(response.body!).all();
    expect(direct.slice(-2).map(line)).toEqual(['rollback:part-1', 'redirect:']);
    const followed = await fetch(direct.at(-1)!.data.url as string, { headers: { accept: 'text/event-stream', 'last-event-id': direct.at(-1)!.id } });
    const reader = eventReader(followed.body!);

    // The resumed attempt waits at the gate after its first chunk: that chunk can only come from its tail, live.
    const first = await reader.next('stream');
    expect(first).toMatchObject({ data: { step: 'part-1', data: 'part 1 chunk 0' }, id: expect.stringMatching(/^1~s1\.2\.2\.0$/) });
    const channel = new BroadcastChannel('streaming-fixture');
    channel.postMessage(gate);
    channel.close();
    const rest = await reader.all();

    expect(rest.map(line)).toEqual(['stream:part 1 chunk 0', 'stream:part 1 chunk 1', 'stream:part 1 chunk 2', 'commit:part-1', 'response:']);
    expect(reduce([...direct, ...rest]).committed).toEqual(allParts(2, 3));
  });

  it('resumes a dropped connection with Last-Event-ID: nothing lost, nothing repeated', async () => {
    const aborted = new AbortController();
    const response = await write({ parts: 4, chunks: 2, ms: 100 }, {}, { signal: aborted.signal });
    const reader = eventReader(response.body!);
    await reader.next('commit');
    const received = [...reader.events];
    aborted.abort();
    await reader.all().catch(() => undefined);

    const state = reduce(received);
    state.provisional.clear();
    const rest = await follow(received[0]!.data.resultUrl as string, received.at(-1)!.id);

    expect(reduce(rest, state).committed).toEqual(allParts(4, 2));
    expect(rest.at(-1)!.event).toBe('response');
  });

  it('answers the same request without the header exactly as before: JSON, no stream', async () => {
    const response = await fetch(`${server.url}/write`, { method: 'POST', body: JSON.stringify({ key: 'plain', parts: 2, chunks: 2 }) });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toEqual({ key: 'plain', done: [0, 1] });
  });
});

/**
 * Streaming, specified through the public entry points on the memory journal: `stream.push` inside
 * steps, a request for `text/event-stream` answered at once, commits only once stored, rollbacks,
 * and the bad input a step can stream.
 */
import middy from '@middy/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configureDurable, durable, durableHandler, MAX_STEP_STREAM_BYTES, step, stream, streamingHandler, type DurableOptions, type HttpResponse, type StreamingResponse } from '../sdk/index.ts';
import { MemoryJournal } from '../sdk/testing/index.ts';
import { body, counter, durableFixture, httpApiEvent, lambdaContext, TOKEN_SECRET } from './support/fixture.ts';
import { latch, pauseAt } from './support/pause.ts';
import { eventReader, parseEvents, reduce } from './support/sse.ts';

beforeAll(() => configureDurable({ streaming: true }));
afterAll(() => configureDurable({ streaming: undefined }));

type Handler = (event: never) => Promise<unknown>;

/** An endpoint answering event streams at once, on `journal`. */
function streaming(handler: Handler, journal = new MemoryJournal(), options: DurableOptions = {}) {
  const fixture = { journal, timer: undefined as never };
  const wrapped = streamingHandler(
    middy()
      .use(durable({ journal, tokenSecret: TOKEN_SECRET, backoff: { initial: 5 }, ...options }))
      .handler(handler as never),
  );
  return Object.assign((event: unknown) => wrapped(event as never, lambdaContext()) as Promise<unknown>, fixture);
}

const asks = (headers: Record<string, string> = {}) => httpApiEvent({ method: 'POST', path: '/work', body: { n: 1 }, headers: { accept: 'text/event-stream', ...headers } });
const plain = () => httpApiEvent({ method: 'POST', path: '/work', body: { n: 1 } });

describe('a request for text/event-stream', () => {
  it('is answered at once with 200 text/event-stream, metadata first, then chunks as the step pushes them', async () => {
    const gate = latch();
    const handler = streaming(async () => {
      await step.run('work', async () => {
        stream.push('first');
        await gate.opened;
        stream.push({ second: 2 });
        return 'done';
      });
      return { statusCode: 201, headers: { 'content-type': 'text/plain' }, body: 'made' };
    });

    // The step is blocked on the gate: only an answer given before the handler ends can arrive.
    const response = (await handler(asks())) as StreamingResponse;
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
    const runId = response.headers['x-durable-run-id']!;
    const events = eventReader(response.body);
    expect(await events.next()).toMatchObject({ event: 'metadata', id: '0~metadata', data: { runId, resultUrl: expect.stringContaining(`/runs/${runId}?token=`) } });
    expect(await events.next()).toMatchObject({ event: 'stream', data: { step: 'work', data: 'first' } });

    gate.open();
    expect(await events.next()).toMatchObject({ event: 'stream', data: { step: 'work', data: { second: 2 } } });
    expect(await events.next()).toEqual({ event: 'commit', id: '1', data: { step: 'work' } });
    expect(await events.next()).toEqual({
      event: 'response',
      id: '1~response',
      data: { status: 201, headers: { 'content-type': 'text/plain', 'x-durable-run-id': runId }, body: 'made' },
    });
    expect((await events.all()).map((e) => e.event)).toEqual(['metadata', 'stream', 'stream', 'commit', 'response']);
  });

  it('commits a step’s chunks only once its result is stored, in the same write', async () => {
    const journal = new MemoryJournal();
    const paused = pauseAt(journal, 'write');
    const handler = streaming(async () => {
      await step.run('work', () => {
        stream.push('a');
        stream.push('b');
        return 1;
      });
      return { statusCode: 200, body: 'ok' };
    }, paused.wrapped);

    const events = eventReader(((await handler(asks())) as StreamingResponse).body);
    await paused.reached;
    await events.next('stream');
    await events.next('stream');
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(events.events.map((e) => e.event)).toEqual(['metadata', 'stream', 'stream']);

    paused.release();
    const commit = await events.next('commit');
    expect(commit.data).toEqual({ step: 'work' });
    const runId = (events.events[0]!.data as { runId: string }).runId;
    const [item] = (await journal.load(runId))!.steps;
    expect(item).toMatchObject({ id: 'work', status: 'completed', output: '1', chunks: '["a","b"]', commit: 1, chunksAttempt: 1 });
  });

  it('rolls back what a failed step attempt pushed and commits what its retry pushed', async () => {
    const journal = new MemoryJournal();
    const calls = counter();
    const handler = streaming(async () => {
      await step.run('work', () => {
        const n = calls.hit('work');
        stream.push(`try ${n}`);
        if (n === 1) throw new Error('flaky');
        return n;
      });
      return { statusCode: 200, body: 'ok' };
    }, journal);

    const events = await eventReader(((await handler(asks())) as StreamingResponse).body).all();

    expect(events.map((e) => [e.event, e.data.data ?? e.data.step ?? ''])).toEqual([
      ['metadata', ''],
      ['stream', 'try 1'],
      ['rollback', 'work'],
      ['stream', 'try 2'],
      ['commit', 'work'],
      ['response', ''],
    ]);
    expect(reduce(events).committed).toEqual([{ step: 'work', data: 'try 2' }]);
    const runId = (events[0]!.data as { runId: string }).runId;
    const [item] = (await journal.load(runId))!.steps;
    expect(item).toMatchObject({ attempts: 2, chunks: '["try 2"]' });
    expect(JSON.parse(item!.rolledBack!)).toEqual([{ attempt: 1, try: 1, chunks: ['try 1'] }]);
  });

  it('costs no journal write of its own: the same writes as the plain request, and the same answer', async () => {
    const writes = { streaming: 0, plain: 0 };
    let counting: keyof typeof writes = 'plain';
    const journal = new MemoryJournal();
    const counted = new Proxy(journal, {
      get: (target, property) => {
        const value = Reflect.get(target, property) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (property === 'write') writes[counting]++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const handler = streaming(async () => {
      let total = 0;
      for (let i = 0; i < 3; i++) total += await step.run(`step-${i}`, () => (stream.push(`step ${i}`), i));
      return { statusCode: 200, body: JSON.stringify({ total }) };
    }, counted);

    const answer = (await handler(plain())) as HttpResponse;
    counting = 'streaming';
    const events = await eventReader(((await handler(asks())) as StreamingResponse).body).all();

    expect(writes.streaming).toBe(writes.plain);
    expect(answer.body).toBe('{"total":3}');
    expect(events.at(-1)!.data).toMatchObject({ status: 200, body: '{"total":3}' });
    expect(reduce(events).committed.map((c) => c.data)).toEqual(['step 0', 'step 1', 'step 2']);
  });

  it('is answered whole, as the same events, where the handler cannot answer before it ends (not exported through streamingHandler)', async () => {
    const journal = new MemoryJournal();
    const handler = middy()
      .use(durable({ journal, tokenSecret: TOKEN_SECRET }))
      .handler(async () => {
        await step.run('work', () => stream.push('only'));
        return { statusCode: 200, body: 'ok' };
      });

    const response = (await handler(asks() as never, lambdaContext())) as HttpResponse;

    expect(response.statusCode).toBe(200);
    expect(response.headers!['content-type']).toMatch(/^text\/event-stream/);
    expect(parseEvents(response.body!).map((e) => e.event)).toEqual(['metadata', 'stream', 'commit', 'response']);
  });

  it('is answered at once by durableHandler too', async () => {
    const gate = latch();
    const handler = streamingHandler(
      durableHandler(
        async () => {
          await step.run('work', async () => (stream.push('x'), await gate.opened));
          return { statusCode: 200, body: 'ok' };
        },
        { journal: new MemoryJournal(), tokenSecret: TOKEN_SECRET },
      ),
    );

    const events = eventReader(((await handler(asks(), lambdaContext())) as StreamingResponse).body);
    expect((await events.next('stream')).data).toEqual({ step: 'work', data: 'x' });
    gate.open();
    expect((await events.next('response')).data).toMatchObject({ status: 200, body: 'ok' });
  });

  it('answers a request that becomes no run (a 400 before any step) with that response', async () => {
    const handler = streaming(async () => ({ statusCode: 400, body: 'bad' }));

    const events = await eventReader(((await handler(asks())) as StreamingResponse).body).all();

    expect(events.map((e) => e.event)).toEqual(['metadata', 'response']);
    expect(events[1]!.data).toEqual({ status: 400, headers: {}, body: 'bad' });
  });
});

describe('what a step streams, and bad input', () => {
  async function runOnce(fn: () => unknown) {
    const { wrap } = await durableFixture();
    const handler = wrap(async () => {
      try {
        await step.run('work', fn);
        return { statusCode: 200, body: 'ok' };
      } catch (error) {
        return { statusCode: 500, body: JSON.stringify({ name: (error as Error).name, message: (error as Error).message }) };
      }
    });
    return handler(plain());
  }

  it('refuses a push outside a step, and outside a durable handler, saying where to call it', async () => {
    const { wrap } = await durableFixture();
    const handler = wrap(async () => {
      stream.push('too early');
      return { statusCode: 200 };
    });
    await expect(handler(plain())).rejects.toThrow(/stream.push was called outside a step: call it inside the function given to step.run/);
    expect(() => stream.push('nowhere')).toThrow(/stream.push was called outside a durable handler/);
  });

  it.each([
    ['a function', () => () => 1, /step 'work': stream.push got a function at the top level; chunks must be JSON values/],
    ['a Map inside', () => ({ seen: new Map() }), /got an instance of Map at 'seen'/],
    ['a BigInt', () => 1n, /got a BigInt/],
    ['undefined', () => undefined, /stream.push\(undefined\)/],
  ])('fails the step attempt at once, naming the step, for a chunk that is not JSON: %s', async (_what, chunk, message) => {
    const calls = counter();
    const answer = await runOnce(() => {
      calls.hit('work');
      stream.push(chunk());
    });
    expect(body(answer)).toEqual({ name: 'StreamError', message: expect.stringMatching(message) });
    expect(calls.counts.work).toBe(1);
  });

  it(`fails a step attempt that streams more than ${MAX_STEP_STREAM_BYTES} bytes, saying how to stream less`, async () => {
    const answer = await runOnce(() => {
      for (let i = 0; i < 200; i++) stream.push('x'.repeat(1_000));
    });
    expect(body(answer)).toEqual({ name: 'StreamError', message: expect.stringMatching(/streamed more than 128000 bytes of chunks .* Stream less/) });
  });

  it('pipes async iterables and byte streams (decoded as UTF-8, split characters kept whole)', async () => {
    const journal = new MemoryJournal();
    const handler = streaming(async () => {
      await step.run('work', async () => {
        await stream.pipe((async function* () {
          yield 'one';
          yield { two: 2 };
        })());
        const euro = new TextEncoder().encode('€');
        await stream.pipe(new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(euro.slice(0, 1));
            controller.enqueue(euro.slice(1));
            controller.close();
          },
        }));
      });
      return { statusCode: 200, body: 'ok' };
    }, journal);

    const events = await eventReader(((await handler(asks())) as StreamingResponse).body).all();

    expect(reduce(events).committed.map((c) => c.data)).toEqual(['one', { two: 2 }, '€']);
  });
});

/**
 * The results URL asked for `text/event-stream`, on the memory journal: a stream that continues
 * after a hand-off or a failure redirect shows every committed chunk once; `Last-Event-ID` resumes
 * anywhere without loss or repetition; the final `response` is the run's non-streaming response.
 */
import middy from '@middy/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configureDurable, createResultsHandler, durable, RetryAfterError, step, stream, streamingHandler, type DurableOptions, type HttpResponse, type StreamingResponse } from '../sdk/index.ts';
import { ManualTimer, MemoryJournal } from '../sdk/testing/index.ts';
import { counter, httpApiEvent, lambdaContext, TOKEN_SECRET } from './support/fixture.ts';
import { latch } from './support/pause.ts';
import { eventReader, reduce } from './support/sse.ts';

beforeAll(() => configureDurable({ streaming: true }));
afterAll(() => configureDurable({ streaming: undefined }));

function setup(handler: (event: never) => Promise<unknown>, options: DurableOptions = {}, journal = new MemoryJournal()) {
  const timer = new ManualTimer();
  const endpoint = streamingHandler(
    middy()
      .use(durable({ journal, timer, tokenSecret: TOKEN_SECRET, ...options }))
      .handler(handler as never),
  );
  const results = createResultsHandler({ journal, tokenSecret: TOKEN_SECRET, streaming: true, streamPollMs: 5 });
  const call = (event: unknown) => endpoint(event as never, lambdaContext({ timeoutMs: 60_000 })) as Promise<unknown>;
  return {
    journal,
    call,
    /** Delivers the next resume to the endpoint, as the timer would. */
    resume: () => call(timer.take()),
    /** The results URL as an event stream, from `lastEventId` on. */
    follow: async (url: string, lastEventId?: string) => {
      const headers: Record<string, string> = { accept: 'text/event-stream', ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }) };
      const response = (await results(httpApiEvent({ path: new URL(url).pathname + new URL(url).search, routeKey: 'GET /runs/{runId}', headers }), lambdaContext())) as StreamingResponse;
      return eventReader(response.body);
    },
    /** The results URL asked for an event stream, as answered. */
    raw: (url: string) => results(httpApiEvent({ path: new URL(url).pathname + new URL(url).search, routeKey: 'GET /runs/{runId}', headers: { accept: 'text/event-stream' } }), lambdaContext()),
    /** The results URL as a plain GET. */
    result: async (url: string) => (await results(httpApiEvent({ path: `${new URL(url).pathname}${new URL(url).search}&wait=0`, routeKey: 'GET /runs/{runId}' }), lambdaContext())) as HttpResponse,
  };
}

const asks = () => httpApiEvent({ method: 'GET', path: '/research', headers: { accept: 'text/event-stream' } });

describe('the results URL as an event stream', () => {
  it('continues a stream handed off mid-step: the interrupted step is rolled back, then its next attempt streams live and commits, every committed chunk once', async () => {
    const attempts = counter();
    const second = latch();
    const { call, resume, follow, result } = setup(
      async () => {
        await step.run('plan', () => (stream.push('planned'), 'plan'));
        await step.run('write', async () => {
          const n = attempts.hit('write');
          stream.push(`draft ${n}`);
          // The first attempt never ends: the hand-off interrupts it.
          await (n === 1 ? new Promise(() => undefined) : second.opened);
          stream.push(`final ${n}`);
        });
        return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ done: true }) };
      },
      { streamHandoffAfter: '200ms' },
    );

    const direct = await eventReader(((await call(asks())) as StreamingResponse).body).all();
    const said = direct.map((e) => `${e.event}:${e.data.data ?? e.data.step ?? ''}`);
    // The commit of `plan` comes once its write is stored, which may be after `write` began.
    expect([...said].sort()).toEqual(['commit:plan', 'metadata:', 'redirect:', 'rollback:write', 'stream:draft 1', 'stream:planned']);
    expect(said.slice(-2)).toEqual(['rollback:write', 'redirect:']);
    const redirect = direct.at(-1)!.data.url as string;

    const followed = await follow(redirect, direct.at(-1)!.id);
    const resumed = resume();
    // The resumed attempt's chunk reaches the follower before its step ends: through the journal's tail.
    expect((await followed.next('stream')).data).toEqual({ step: 'write', data: 'draft 2' });
    second.open();
    await resumed;
    const rest = await followed.all();

    expect(rest.map((e) => `${e.event}:${e.data.data ?? e.data.step ?? ''}`)).toEqual(['stream:draft 2', 'stream:final 2', 'commit:write', 'response:']);
    expect(reduce([...direct, ...rest]).committed).toEqual([
      { step: 'plan', data: 'planned' },
      { step: 'write', data: 'draft 2' },
      { step: 'write', data: 'final 2' },
    ]);
    const plain = await result(redirect);
    expect(rest.at(-1)!.data).toEqual({ status: plain.statusCode, headers: plain.headers, body: plain.body });
  });

  it('continues a stream after a failure redirect: the failed attempt rolled back, the resumed one committed', async () => {
    const attempts = counter();
    const { call, resume, follow } = setup(
      async () => {
        const n = await step.run('fetch', () => {
          const tried = attempts.hit('fetch');
          stream.push(`fetching, try ${tried}`);
          if (tried === 1) throw new Error('upstream down');
          return tried;
        });
        return { statusCode: 200, body: String(n) };
      },
      // Longer than anything waited inline: the caller is redirected at once.
      { backoff: { initial: '10s' } },
    );

    const direct = await eventReader(((await call(asks())) as StreamingResponse).body).all();
    expect(direct.map((e) => e.event)).toEqual(['metadata', 'stream', 'rollback', 'redirect']);
    await resume();
    const rest = await (await follow(direct.at(-1)!.data.url as string, direct.at(-1)!.id)).all();

    expect(rest.map((e) => e.event)).toEqual(['stream', 'commit', 'response']);
    expect(reduce([...direct, ...rest]).committed).toEqual([{ step: 'fetch', data: 'fetching, try 2' }]);
    expect(rest.at(-1)!.data).toMatchObject({ status: 200, body: '2' });
  });

  it('resumes after any event with Last-Event-ID, losing nothing and repeating nothing', async () => {
    const { call, follow } = setup(async () => {
      await Promise.all(['a', 'b'].map((id) => step.run(id, () => (stream.push(`${id}1`), stream.push(`${id}2`)))));
      await step.run('quiet', () => 'no chunks');
      await step.run('c', () => stream.push('c1'));
      return { statusCode: 200, body: 'ok' };
    });
    const direct = await eventReader(((await call(asks())) as StreamingResponse).body).all();
    const url = direct[0]!.data.resultUrl as string;
    const replay = await (await follow(url)).all();
    const everything = reduce(replay).committed;
    expect(everything.map((c) => c.data)).toEqual(expect.arrayContaining(['a1', 'a2', 'b1', 'b2', 'c1']));
    expect(everything).toHaveLength(5);
    // The replay's ids are the direct stream's: a reader may switch from one to the other.
    expect(replay.filter((e) => e.event === 'commit').map((e) => e.id)).toEqual(direct.filter((e) => e.event === 'commit').map((e) => e.id));

    for (const stream of [direct, replay]) {
      for (let cut = 0; cut < stream.length - 1; cut++) {
        const before = stream.slice(0, cut + 1);
        const state = reduce(before);
        // A reader that reconnects drops what was provisional, unless it was in the middle of a replayed commit.
        const mid = /^\d+\.\d+$/.test(stream[cut]!.id) ? (stream[cut]!.data.step as string) : undefined;
        for (const step of state.provisional.keys()) if (step !== mid) state.provisional.delete(step);
        const after = await (await follow(url, stream[cut]!.id)).all();
        expect(reduce(after, state).committed, `cut after ${stream[cut]!.id}`).toEqual(everything);
        expect(after.at(-1)!.event).toBe('response');
      }
    }
  });

  it('reads only the tail written since its last poll, and after a step retried in place streams, says no rollback again', async () => {
    // Records what each poll asks for and what it is told to ask for next.
    class Recording extends MemoryJournal {
      readonly asked: (string | undefined)[] = [];
      readonly told: (string | undefined)[] = [];
      private waiting: { count: number; done: () => void } | undefined;
      override async progress(runId: string, since?: string) {
        this.asked.push(since);
        const progress = await super.progress(runId, since);
        this.told.push(progress?.since);
        if (this.waiting && this.told.length >= this.waiting.count) this.waiting.done();
        return progress;
      }
      /** Resolves once `n` more polls have been answered. */
      polls(n: number): Promise<void> {
        return new Promise((done) => (this.waiting = { count: this.told.length + n, done }));
      }
    }
    const journal = new Recording();
    const attempts = counter();
    const finish = latch();
    const { call, resume, follow } = setup(
      async () => {
        await step.run('write', async () => {
          const n = attempts.hit('write');
          if (n === 1) throw new RetryAfterError('busy', '1m'); // the first invocation redirects
          stream.push(`try ${n}`);
          if (n === 2) throw new Error('flaky'); // retried in place by the resumed attempt
          await finish.opened;
          return 'ok';
        });
        return { statusCode: 200, body: 'done' };
      },
      { backoff: { initial: 5 } },
      journal,
    );

    const redirect = (await eventReader(((await call(asks())) as StreamingResponse).body).all()).at(-1)!;
    const followed = await follow(redirect.data.url as string, redirect.id);
    const resumed = resume();
    while ((await followed.next('stream')).data.data !== 'try 3');
    await journal.polls(5);
    finish.open();
    await resumed;
    const events = await followed.all();
    const after = events.slice(events.findIndex((event) => event.data.data === 'try 3') + 1);

    expect(journal.asked.slice(1)).toEqual(journal.told.slice(0, -1));
    expect(journal.told.some((since) => since !== undefined)).toBe(true);
    expect(after.map((event) => event.event)).toEqual(['commit', 'response']);
    const sawTry2 = events.some((event) => event.data.data === 'try 2');
    expect(events.filter((event) => event.event === 'rollback')).toHaveLength(sawTry2 ? 1 : 0);
  });

  it('answers a bad token 401 and an unknown run 404, as plain JSON, not as a stream', async () => {
    const { raw, call } = setup(async () => (await step.run('a', () => 1), { statusCode: 200, body: 'ok' }));
    const direct = await eventReader(((await call(asks())) as StreamingResponse).body).all();
    const url = new URL(direct[0]!.data.resultUrl as string);

    const forged = new URL(url);
    forged.searchParams.set('token', 'forged');
    expect(await raw(forged.href)).toMatchObject({ statusCode: 401, headers: { 'content-type': 'application/json' } });
    const unknown = new URL(url.href.replace(/runs\/[0-9A-Z]{26}/, 'runs/01JZZZZZZZZZZZZZZZZZZZZZZZ'));
    expect((await raw(unknown.href)).statusCode).toBe(401); // the token names another run
  });
});

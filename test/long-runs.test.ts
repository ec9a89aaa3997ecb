import { describe, expect, it } from 'vitest';
import { createEventsHandler, RetryAfterError, step } from '../sdk/index.ts';
import { body, counter, durableFixture, httpApiEvent, lambdaContext } from './support/fixture.ts';

const post = (path = '/p', payload: unknown = {}) => httpApiEvent({ method: 'POST', path, body: payload });

describe('step.sleep', () => {
  it('sleeps inline when short: no redirect, journaled as completed', async () => {
    const { wrap, timer, journal } = await durableFixture();
    const handler = wrap(async () => {
      await step.sleep('nap', '50ms');
      return { statusCode: 200, body: 'awake' };
    });

    const response = await handler(post());

    expect(response).toMatchObject({ statusCode: 200, body: 'awake' });
    expect(timer.scheduled).toHaveLength(0);
    const { steps } = (await journal.load(response.headers!['x-durable-run-id']!))!;
    expect(steps[0]).toMatchObject({ id: 'nap', status: 'completed' });
  });

  it('suspends a long sleep (303, status sleeping) and resumes after it without re-running earlier steps', async () => {
    const { wrap, timer, journal, resume } = await durableFixture();
    const { counts, hit } = counter();
    const handler = wrap(async () => {
      await step.run('before', () => hit('before'));
      await step.sleep('wait-an-hour', '1h');
      await step.run('after', () => hit('after'));
      return { statusCode: 200, body: 'done' };
    });

    const first = await handler(post());
    const runId = first.headers!['x-durable-run-id']!;

    expect(first.statusCode).toBe(303);
    expect((await journal.getRun(runId))?.status).toBe('sleeping');
    const wake = timer.scheduled[0]!;
    expect(wake.event.reason).toBe('sleep');
    expect(wake.at.getTime() - Date.now()).toBeGreaterThan(3_590_000);

    // Delivered early (timers are at-least-once and may be early): the run goes back to sleep until the same time.
    await resume(handler);
    expect(timer.scheduled[0]!.at.getTime()).toBe(wake.at.getTime());
    expect(counts).toEqual({ before: 1 });
  });

  it('continues once the wake time has passed', async () => {
    const { wrap, resume, result } = await durableFixture();
    const { counts, hit } = counter();
    const handler = wrap(async () => {
      await step.run('before', () => hit('before'));
      await step.sleepUntil('until', new Date(Date.now() + 2_500));
      await step.run('after', () => hit('after'));
      return { statusCode: 200, body: 'done' };
    });

    const first = await handler(post());
    expect(first.statusCode).toBe(303);
    await new Promise((r) => setTimeout(r, 2_600));
    await resume(handler);

    expect(await result(first.headers!.location!)).toMatchObject({ statusCode: 200, body: 'done' });
    expect(counts).toEqual({ before: 1, after: 1 });
  });

  it('returns at once for a date in the past, and refuses an invalid one', async () => {
    const { wrap } = await durableFixture();
    const handler = wrap(async () => {
      await step.sleepUntil('past', '2000-01-01T00:00:00Z');
      return { statusCode: 200 };
    });
    expect((await handler(post())).statusCode).toBe(200);

    const bad = wrap(async () => {
      await step.sleepUntil('bad', 'not a date');
    });
    await expect(bad(post())).rejects.toThrow(/needs a valid date/);
  });
});

describe('step.waitForEvent and POST /events', () => {
  async function orderFixture() {
    const fixture = await durableFixture();
    const events = createEventsHandler({ journal: fixture.journal, timer: fixture.timer });
    const handler = fixture.wrap(async (event: { body: string }) => {
      const { orderId } = JSON.parse(event.body);
      const approval = await step.waitForEvent<{ orderId: string; by: string }>('approval', {
        event: 'order/approved',
        match: { 'data.orderId': orderId },
        timeout: '1h',
      });
      return { statusCode: 200, body: JSON.stringify({ orderId, approved: approval !== null, by: approval?.data.by ?? null }) };
    });
    const send = async (payload: unknown) => body(await events(httpApiEvent({ method: 'POST', path: '/events', body: payload }), lambdaContext()));
    return { ...fixture, handler, send, events };
  }

  it('suspends until a matching event arrives, then completes with it', async () => {
    const { handler, send, timer, journal, result } = await orderFixture();

    const first = await handler(post('/orders', { orderId: 'o-1' }));
    const runId = first.headers!['x-durable-run-id']!;
    expect(first.statusCode).toBe(303);
    // The event may come any moment: callers are told to come back at once, not after the timeout.
    expect(first.headers!['retry-after']).toBe('1');
    expect((await journal.getRun(runId))?.status).toBe('waiting');
    expect(timer.scheduled[0]!.event.reason).toBe('timeout');

    expect(await send({ name: 'order/approved', data: { orderId: 'o-2', by: 'x' } })).toMatchObject({ resumed: [] });
    expect(await send({ name: 'order/approved', id: 'evt-1', data: { orderId: 'o-1', by: 'alice' } })).toEqual({ id: 'evt-1', resumed: [runId] });
    const resumeEvent = timer.scheduled.find((s) => s.event.reason === 'event')!.event;
    await handler(resumeEvent);

    expect(await result(first.headers!.location!)).toMatchObject({ statusCode: 200, body: JSON.stringify({ orderId: 'o-1', approved: true, by: 'alice' }) });
  });

  it('changes nothing when the same event is delivered again', async () => {
    const { handler, send, timer } = await orderFixture();
    await handler(post('/orders', { orderId: 'o-3' }));

    const once = await send({ name: 'order/approved', id: 'evt-3', data: { orderId: 'o-3', by: 'bob' } });
    const again = await send({ name: 'order/approved', id: 'evt-3', data: { orderId: 'o-3', by: 'bob' } });

    expect(once.resumed).toHaveLength(1);
    expect(again).toEqual({ id: 'evt-3', duplicate: true, resumed: [] });
    expect(timer.scheduled.filter((s) => s.event.reason === 'event')).toHaveLength(1);
  });

  it('resolves to null after the timeout', async () => {
    const fixture = await durableFixture();
    const handler = fixture.wrap(async () => {
      const approval = await step.waitForEvent('approval', { event: 'order/approved', match: { 'data.orderId': 'o-4' }, timeout: '1s' });
      return { statusCode: 200, body: JSON.stringify({ approved: approval !== null }) };
    });

    const first = await handler(post());
    await new Promise((r) => setTimeout(r, 1_100));
    await fixture.resume(handler);

    expect(await fixture.result(first.headers!.location!)).toMatchObject({ statusCode: 200, body: '{"approved":false}' });
  });

  it('finds an event that arrived shortly before the waiter, without suspending', async () => {
    const { handler, send, timer } = await orderFixture();
    await send({ name: 'order/approved', id: 'early', data: { orderId: 'o-5', by: 'carol' } });

    const response = await handler(post('/orders', { orderId: 'o-5' }));

    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body!)).toEqual({ orderId: 'o-5', approved: true, by: 'carol' });
    expect(timer.scheduled).toHaveLength(0);
  });

  it('rejects malformed events with 400', async () => {
    const { events } = await orderFixture();
    const call = (raw: string) => events(httpApiEvent({ method: 'POST', path: '/events', body: raw, headers: { 'content-type': 'application/json' } }));

    expect((await call('not json')).statusCode).toBe(400);
    expect((await call('{"data":{}}')).statusCode).toBe(400);
    expect((await call('{"name":"x","id":"bad id with spaces"}')).statusCode).toBe(400);
  });
});

describe('deadline hand-off', () => {
  it('answers 303 at the deadline; the next invocation re-runs only the step in flight', async () => {
    const { wrap, timer, result } = await durableFixture({ handoffAfter: '400ms' });
    const { counts, hit } = counter();
    const slow = (ms: number) => new Promise((r) => setTimeout(r, ms));
    let firstSlowFinished = false;
    const handler = wrap(async () => {
      await step.run('quick', () => hit('quick'));
      await step.run('slow', async () => {
        const attempt = hit('slow');
        await slow(attempt === 1 ? 1_000 : 10);
        if (attempt === 1) firstSlowFinished = true;
        return 'slow-done';
      });
      await step.run('last', () => hit('last'));
      return { statusCode: 200, body: 'finished' };
    });

    const first = await handler(post());

    expect(first.statusCode).toBe(303);
    expect(firstSlowFinished).toBe(false);
    const handoff = timer.take();
    expect(handoff.reason).toBe('handoff');
    await handler(handoff);

    expect(await result(first.headers!.location!)).toMatchObject({ statusCode: 200, body: 'finished' });
    // Let the abandoned first execution of 'slow' finish: what it tries to write is dropped.
    await slow(1_000);
    expect(firstSlowFinished).toBe(true);
    expect(counts).toEqual({ quick: 1, slow: 2, last: 1 });
  });
});

describe('runs across several resumes', () => {
  it('resumes a run whose event arrives after another step moved it to a later attempt', async () => {
    const fixture = await durableFixture();
    const events = createEventsHandler({ journal: fixture.journal, timer: fixture.timer });
    const { counts, hit } = counter();
    const handler = fixture.wrap(async () => {
      const [, approval] = await Promise.all([
        step.run('charge', () => {
          if (hit('charge') === 1) throw new RetryAfterError('busy', '1m');
        }),
        step.waitForEvent('approval', { event: 'doc/approved', match: { 'data.doc': 'd-1' }, timeout: '1h' }),
      ]);
      return { statusCode: 200, body: JSON.stringify({ approved: approval !== null }) };
    });

    const first = await handler(post());
    const retry = fixture.timer.scheduled.find((s) => s.event.reason === 'retry')!.event;
    fixture.timer.scheduled.length = 0;
    expect((await handler(retry)).statusCode).toBe(202); // attempt 2: charged, still waiting
    const sent = body(await events(httpApiEvent({ method: 'POST', path: '/events', body: { name: 'doc/approved', data: { doc: 'd-1' } } })));
    const resume = fixture.timer.scheduled.find((s) => s.event.reason === 'event')!.event;

    expect(sent.resumed).toEqual([first.headers!['x-durable-run-id']]);
    expect(resume.attempt).toBe(2);
    await handler(resume);
    expect(await fixture.result(first.headers!.location!)).toMatchObject({ statusCode: 200, body: '{"approved":true}' });
    expect(counts).toEqual({ charge: 2 });
  });

  it('fails a step that is still running at every hand-off once its retries are spent, instead of starting it forever', async () => {
    const { wrap, timer, result } = await durableFixture({ handoffAfter: '300ms', retries: 1 });
    const { counts, hit } = counter();
    const handler = wrap(async () => {
      await step.run('too-long', async () => {
        hit('too-long');
        await new Promise((r) => setTimeout(r, 1_500));
      });
      return { statusCode: 200 };
    });
    // Resumes hand off 3 s before the Lambda's timeout: a 3.4 s function leaves them 400 ms.
    const shortLambda = lambdaContext({ timeoutMs: 3_400 });

    const first = await handler(post());
    await handler(timer.take(), shortLambda);
    await handler(timer.take(), shortLambda);
    const final = await result(first.headers!.location!);

    expect(counts['too-long']).toBe(2);
    expect(final.statusCode).toBe(500);
    expect(body(final)).toMatchObject({ status: 'failed', error: { name: 'HandoffTimeout', message: expect.stringContaining("step 'too-long' was still running") } });
  });
});

describe('requests too large for the journal', () => {
  it('answers 413 before the first step runs, and keeps nothing', async () => {
    const { wrap, journal } = await durableFixture();
    const { counts, hit } = counter();
    const handler = wrap(async () => {
      await step.run('charge', () => hit('charge'));
      return { statusCode: 200 };
    });

    const response = await handler(post('/upload', { blob: 'x'.repeat(400_000) }));

    expect(response.statusCode).toBe(413);
    expect(body(response)).toMatchObject({ error: { name: 'RequestTooLargeError' } });
    expect(counts).toEqual({});
    expect(await journal.listRuns()).toEqual([]);
  });
});

describe('several waits for events of one name', () => {
  it('does not let one event complete two waits of the same run', async () => {
    const fixture = await durableFixture();
    const events = createEventsHandler({ journal: fixture.journal, timer: fixture.timer });
    const handler = fixture.wrap(async () => {
      const first = await step.waitForEvent('first-approval', { event: 'doc/approved', match: { 'data.doc': 'd-9' }, timeout: '1h' });
      const second = await step.waitForEvent('second-approval', { event: 'doc/approved', match: { 'data.doc': 'd-9' }, timeout: '1h' });
      return { statusCode: 200, body: JSON.stringify([first?.data, second?.data]) };
    });
    const approve = async (by: string) =>
      body(await events(httpApiEvent({ method: 'POST', path: '/events', body: { name: 'doc/approved', data: { doc: 'd-9', by } } })));

    const started = await handler(post());
    await approve('ada');
    const afterFirst = await handler(fixture.timer.scheduled.find((s) => s.event.reason === 'event')!.event);
    expect(afterFirst.statusCode).toBe(202); // still waiting: the first approval is not the second

    fixture.timer.scheduled.length = 0;
    await approve('grace');
    await handler(fixture.timer.scheduled.find((s) => s.event.reason === 'event')!.event);
    expect(await fixture.result(started.headers!.location!)).toMatchObject({
      statusCode: 200,
      body: JSON.stringify([{ doc: 'd-9', by: 'ada' }, { doc: 'd-9', by: 'grace' }]),
    });
  });
});

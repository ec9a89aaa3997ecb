import { describe, expect, it } from 'vitest';
import { NonRetriableError, RetryAfterError, step } from '../sdk/index.ts';
import { restApiEvent } from '../sdk/testing/index.ts';
import { body, counter, countItems, durableFixture, httpApiEvent } from './support/fixture.ts';

const post = (path: string, payload: unknown, headers: Record<string, string> = {}) =>
  httpApiEvent({ method: 'POST', path, body: payload, headers });

describe('durable() on the happy path', () => {
  it('answers with the handler’s own response, plus x-durable-run-id', async () => {
    const { wrap, journal } = await durableFixture();
    const plain = async (event: { body?: string }) => {
      const a = await Promise.resolve({ n: 1 });
      const b = await Promise.resolve(JSON.parse(event.body!).x * 2);
      return { statusCode: 201, headers: { 'content-type': 'application/json', 'x-custom': 'yes' }, body: JSON.stringify({ a, b }) };
    };
    const durableVersion = wrap(async (event: { body?: string }) => {
      const a = await step.run('a', () => ({ n: 1 }));
      const b = await step.run('b', () => JSON.parse(event.body!).x * 2);
      return { statusCode: 201, headers: { 'content-type': 'application/json', 'x-custom': 'yes' }, body: JSON.stringify({ a, b }) };
    });

    const expected = await plain(post('/p', { x: 21 }));
    const response = await durableVersion(post('/p', { x: 21 }));
    const runId = response.headers!['x-durable-run-id']!;

    expect(runId).toMatch(/^[0-9A-Z]{26}$/);
    expect(response).toEqual({ ...expected, headers: { ...expected.headers, 'x-durable-run-id': runId } });
    const stored = await journal.load(runId);
    expect(stored?.run.status).toBe('completed');
    expect(stored?.run.response).toEqual(response);
    expect(stored?.steps.map((s) => [s.id, s.status, s.attempts])).toEqual([
      ['a', 'completed', 1],
      ['b', 'completed', 1],
    ]);
  });

  it('does not journal a request that calls no step: it is not a run', async () => {
    const { wrap, journal } = await durableFixture();
    const handler = wrap(async () => ({ statusCode: 400, body: 'bad input' }));

    const response = await handler(post('/p', 'not json'));

    expect(response).toEqual({ statusCode: 400, body: 'bad input' });
    expect(await countItems(journal)).toBe(0);
  });

  it('numbers repeated step ids :1, :2 in call order', async () => {
    const { wrap, journal } = await durableFixture();
    const handler = wrap(async () => {
      for (const n of [1, 2, 3]) await step.run('item', () => n);
      return { statusCode: 200, body: '' };
    });

    const response = await handler(post('/p', {}));

    const { steps } = (await journal.load(response.headers!['x-durable-run-id']!))!;
    expect(steps.map((s) => [s.id, s.output])).toEqual([
      ['item', '1'],
      ['item:1', '2'],
      ['item:2', '3'],
    ]);
  });

  it('runs Promise.all of steps in parallel and stays on the synchronous path', async () => {
    const { wrap, journal, timer } = await durableFixture();
    let running = 0;
    let peak = 0;
    const work = async (n: number) => {
      peak = Math.max(peak, ++running);
      await new Promise((resolve) => setTimeout(resolve, 20));
      running--;
      return n * 10;
    };
    const handler = wrap(async () => {
      const values = await Promise.all([1, 2, 3].map((n) => step.run(`part-${n}`, () => work(n))));
      return { statusCode: 200, body: JSON.stringify(values) };
    });

    const response = await handler(post('/p', {}));

    expect(response.statusCode).toBe(200);
    expect(response.body).toBe('[10,20,30]');
    expect(peak).toBe(3);
    expect(timer.scheduled).toHaveLength(0);
    const { steps } = (await journal.load(response.headers!['x-durable-run-id']!))!;
    expect(steps.map((s) => [s.id, !!s.concurrent])).toEqual([
      ['part-1', false],
      ['part-2', true],
      ['part-3', true],
    ]);
  });

  it('returns Dates from steps as Dates, the first time and on replay', async () => {
    const { wrap, resume } = await durableFixture();
    const seen: unknown[] = [];
    let fail = true;
    const handler = wrap(async () => {
      const when = await step.run('when', () => ({ at: new Date('2026-01-02T03:04:05.000Z') }));
      seen.push(when.at);
      await step.run('flaky', () => {
        if (fail) throw new RetryAfterError('later', '10s');
      });
      return { statusCode: 200, body: when.at.toISOString() };
    });

    await handler(post('/p', {}));
    fail = false;
    const final = (await resume(handler)) as { body: string };

    expect(seen).toHaveLength(2);
    for (const at of seen) expect(at).toBeInstanceOf(Date);
    expect(final.body).toBe('2026-01-02T03:04:05.000Z');
  });
});

describe('durable() when a step fails', () => {
  it('redirects with 303 and resumes from the failed step, never re-running earlier ones', async () => {
    const { wrap, resume, result, timer } = await durableFixture();
    const { counts, hit } = counter();
    const handler = wrap(async () => {
      const a = await step.run('a', () => (hit('a'), 'A'));
      const b = await step.run('b', () => {
        if (hit('b') === 1) throw new RetryAfterError('rate limited', '30s');
        return 'B';
      });
      const c = await step.run('c', () => (hit('c'), 'C'));
      return { statusCode: 200, body: a + b + c };
    });

    const first = await handler(post('/p', {}));

    expect(first.statusCode).toBe(303);
    const runId = first.headers!['x-durable-run-id']!;
    const location = first.headers!.location!;
    expect(location).toMatch(new RegExp(`^http://localhost:3000/runs/${runId}\\?token=`));
    expect(Number(first.headers!['retry-after'])).toBeGreaterThanOrEqual(29);
    expect(body(first)).toEqual({ runId, status: 'running', resultUrl: location });
    expect(timer.scheduled[0]!.at.getTime() - Date.now()).toBeGreaterThan(25_000);
    expect((await result(location)).statusCode).toBe(303);

    await resume(handler);
    const final = await result(location);

    expect(final).toMatchObject({ statusCode: 200, body: 'ABC', headers: { 'x-durable-run-id': runId } });
    expect(counts).toEqual({ a: 1, b: 2, c: 1 });
  });

  it('retries inline while the caller waits when the backoff is short: no redirect', async () => {
    const { wrap, timer, journal } = await durableFixture();
    const { counts, hit } = counter();
    const handler = wrap(async () => {
      const v = await step.run('flaky', () => {
        if (hit('flaky') < 3) throw new Error('transient');
        return 'ok';
      });
      return { statusCode: 200, body: v };
    });

    const response = await handler(post('/p', {}));

    expect(response).toMatchObject({ statusCode: 200, body: 'ok' });
    expect(counts.flaky).toBe(3);
    expect(timer.scheduled).toHaveLength(0);
    const { steps } = (await journal.load(response.headers!['x-durable-run-id']!))!;
    expect(steps[0]).toMatchObject({ id: 'flaky', status: 'completed', attempts: 3 });
  });

  it('goes asynchronous once the inline budget is spent', async () => {
    const { wrap, timer } = await durableFixture({ retries: 10, backoff: { initial: 400, factor: 1 }, inlineBudget: 1_000 });
    const handler = wrap(async () => {
      await step.run('down', () => {
        throw new Error('still down');
      });
      return { statusCode: 200 };
    });

    const response = await handler(post('/p', {}));

    expect(response.statusCode).toBe(303);
    expect(timer.scheduled).toHaveLength(1);
  });

  it('replays the POST body, query string and headers on resume, without redacted headers', async () => {
    const { wrap, resume } = await durableFixture();
    const seen: unknown[] = [];
    let fail = true;
    const handler = wrap(async (event: { body?: string; queryStringParameters?: Record<string, string>; headers: Record<string, string> }) => {
      seen.push({ body: JSON.parse(event.body!), query: event.queryStringParameters, tenant: event.headers['x-tenant'], auth: event.headers.authorization });
      await step.run('flaky', () => {
        if (fail) throw new RetryAfterError('later', '1m');
      });
      return { statusCode: 200 };
    });

    await handler(
      httpApiEvent({ method: 'POST', path: '/orders?dryRun=1&tag=a&tag=b', body: { id: 7 }, headers: { 'x-tenant': 't1', authorization: 'Bearer secret' } }),
    );
    fail = false;
    await resume(handler);

    expect(seen[0]).toEqual({ body: { id: 7 }, query: { dryRun: '1', tag: 'a,b' }, tenant: 't1', auth: 'Bearer secret' });
    expect(seen[1]).toEqual({ ...(seen[0] as object), auth: undefined });
  });

  it('works the same for REST API (payload 1.0) events, with the stage in the results URL', async () => {
    const { wrap, resume, result } = await durableFixture();
    const seen: unknown[] = [];
    let fail = true;
    const handler = wrap(async (event: { body: string; multiValueQueryStringParameters: Record<string, string[]> }) => {
      seen.push([event.body, event.multiValueQueryStringParameters]);
      await step.run('flaky', () => {
        if (fail) throw new RetryAfterError('later', '1m');
      });
      return { statusCode: 202, body: 'done' };
    });

    const first = await handler(restApiEvent({ method: 'POST', path: '/jobs?x=1&x=2', body: 'raw text', stage: 'prod' }));
    fail = false;
    await resume(handler);

    expect(first.headers!.location).toMatch(/^http:\/\/localhost:3000\/prod\/runs\/[0-9A-Z]{26}\?token=/);
    expect(seen[1]).toEqual(seen[0]);
    expect(seen[0]).toEqual(['raw text', { x: ['1', '2'] }]);
    expect(await result(new URL(first.headers!.location!).pathname.replace('/prod', '') + new URL(first.headers!.location!).search)).toMatchObject({
      statusCode: 202,
      body: 'done',
    });
  });

  it('journals parallel siblings of a failed step so the resume does not re-run them', async () => {
    const { wrap, resume, result } = await durableFixture();
    const { counts, hit } = counter();
    const handler = wrap(async () => {
      const parts = await Promise.all(
        ['x', 'y', 'z'].map((name) =>
          step.run(name, async () => {
            await new Promise((resolve) => setTimeout(resolve, name === 'z' ? 30 : 5));
            if (hit(name) === 1 && name === 'x') throw new RetryAfterError('busy', '1m');
            return name.toUpperCase();
          }),
        ),
      );
      return { statusCode: 200, body: parts.join('') };
    });

    const first = await handler(post('/p', {}));
    await resume(handler);

    expect(first.statusCode).toBe(303);
    expect(await result(first.headers!.location!)).toMatchObject({ statusCode: 200, body: 'XYZ' });
    expect(counts).toEqual({ x: 2, y: 1, z: 1 });
  });

  it('fails the run at once on NonRetriableError', async () => {
    const { wrap, timer } = await durableFixture();
    const { counts, hit } = counter();
    const handler = wrap(async () => {
      await step.run('charge', () => {
        hit('charge');
        throw new NonRetriableError('card declined');
      });
      hit('after');
      return { statusCode: 200 };
    });

    const response = await handler(post('/p', {}));

    const runId = response.headers!['x-durable-run-id'];
    expect(response.statusCode).toBe(500);
    expect(body(response)).toEqual({ runId, status: 'failed', error: { name: 'NonRetriableError', message: 'card declined' } });
    expect(counts).toEqual({ charge: 1 });
    expect(timer.scheduled).toHaveLength(0);
  });

  it('fails the run when retries are exhausted, and the results URL says so', async () => {
    const { wrap, resume, result } = await durableFixture({ retries: 1 });
    const { counts, hit } = counter();
    const handler = wrap(async () => {
      await step.run('always', () => {
        hit('always');
        throw new RetryAfterError('upstream down', '1m');
      });
      return { statusCode: 200 };
    });

    const first = await handler(post('/p', {}));
    await resume(handler);
    const final = await result(first.headers!.location!);

    expect(counts.always).toBe(2);
    expect(final.statusCode).toBe(500);
    expect(body(final)).toEqual({ runId: first.headers!['x-durable-run-id'], status: 'failed', error: { name: 'RetryAfterError', message: 'upstream down' } });
  });

  it('lets the handler catch a step’s final error and answer anyway', async () => {
    const { wrap } = await durableFixture({ retries: 0 });
    const handler = wrap(async () => {
      try {
        await step.run('optional', () => {
          throw new Error('nope');
        });
      } catch {
        return { statusCode: 200, body: 'degraded' };
      }
      return { statusCode: 200, body: 'full' };
    });

    expect(await handler(post('/p', {}))).toMatchObject({ statusCode: 200, body: 'degraded' });
  });

  it('maps a failed run with onFailure', async () => {
    const { wrap } = await durableFixture({
      onFailure: ({ runId, error }) => ({ statusCode: 422, body: `${runId}:${error.message}` }),
    });
    const handler = wrap(async () => {
      await step.run('validate', () => {
        throw new NonRetriableError('invalid order');
      });
    });

    const response = await handler(post('/p', {}));

    expect(response.statusCode).toBe(422);
    expect(response.body).toBe(`${response.headers!['x-durable-run-id']}:invalid order`);
  });

  it('refuses a non-serializable step result with a non-retriable error naming the step', async () => {
    const { wrap } = await durableFixture();
    const { counts, hit } = counter();
    const handler = wrap(async () => {
      await step.run('load-cache', () => (hit('load'), { cache: new Map([['a', 1]]) }));
      return { statusCode: 200 };
    });

    const response = await handler(post('/p', {}));

    expect(response.statusCode).toBe(500);
    const { error } = body(response) as { error: { name: string; message: string } };
    expect(error.name).toBe('SerializationError');
    expect(error.message).toContain("step 'load-cache'");
    expect(error.message).toContain("instance of Map at 'cache'");
    expect(counts.load).toBe(1);
  });

  it('fails with a non-determinism error when steps change order between attempts', async () => {
    const { wrap, resume, result } = await durableFixture();
    let order = ['first', 'second'];
    let fail = true;
    const handler = wrap(async () => {
      for (const id of order) {
        await step.run(id, () => {
          if (id === 'second' && fail) throw new RetryAfterError('later', '1m');
          return id;
        });
      }
      return { statusCode: 200 };
    });

    const first = await handler(post('/p', {}));
    order = ['second', 'first'];
    fail = false;
    await resume(handler);
    const final = await result(first.headers!.location!);

    expect(final.statusCode).toBe(500);
    const { error } = body(final) as { error: { name: string; message: string } };
    expect(error.name).toBe('NonDeterminismError');
    expect(error.message).toContain("step 'second'");
  });

  it('executes the failed step once when two resumes of the run race', async () => {
    const { wrap, timer, result } = await durableFixture();
    const { counts, hit } = counter();
    const handler = wrap(async () => {
      await step.run('a', () => hit('a'));
      await step.run('b', async () => {
        if (hit('b') === 1) throw new RetryAfterError('later', '1m');
        await new Promise((resolve) => setTimeout(resolve, 50));
      });
      return { statusCode: 200, body: 'done' };
    });

    const first = await handler(post('/p', {}));
    const resumeEvent = timer.take();
    const outcomes = await Promise.all([handler(resumeEvent), handler(resumeEvent)]);

    expect(counts).toEqual({ a: 1, b: 2 });
    expect(outcomes.map((o) => o.statusCode).sort()).toEqual([200, 409]);
    expect(await result(first.headers!.location!)).toMatchObject({ statusCode: 200, body: 'done' });
    expect(await handler(resumeEvent)).toMatchObject({ statusCode: 409 });
    expect(counts).toEqual({ a: 1, b: 2 });
  });
});

describe('step outside a durable handler', () => {
  it('throws a clear error', () => {
    expect(() => step.run('x', () => 1)).toThrow(/step 'x' was called outside a durable handler/);
  });
});

import middy from '@middy/core';
import { describe, expect, it } from 'vitest';
import { durable, durableHandler, JournalError, RetryAfterError, step, type HttpResponse } from '../sdk/index.ts';
import { ManualTimer } from '../sdk/testing/index.ts';
import { createTestJournal, durableFixture, httpApiEvent, lambdaContext, localClient, TOKEN_SECRET } from './support/fixture.ts';

/** Makes the next `times` requests of `command` (or of any of several) fail as DynamoDB does when throttling. */
function failNext(client: ReturnType<typeof localClient>, command: string | string[], times: number) {
  let left = times;
  const commands = new Set([command].flat());
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (commands.has(context.commandName ?? '') && left > 0) {
        left--;
        const error = new Error('Rate of requests exceeds the allowed throughput.');
        error.name = 'ProvisionedThroughputExceededException';
        throw error;
      }
      return next(args);
    },
    { step: 'initialize', name: 'inject-throttling' },
  );
  return {
    get left() {
      return left;
    },
    heal() {
      left = 0;
    },
  };
}

describe('journal failures', () => {
  it('retries throttled checkpoint writes and loses nothing', async () => {
    // maxAttempts 1: the SDK does not retry, so the kit's own retries are what is tested.
    const client = localClient({ maxAttempts: 1 });
    const journal = await createTestJournal(client);
    const faults = failNext(client, 'BatchWriteItemCommand', 3);
    const handler = middy()
      .use(durable({ journal, timer: new ManualTimer(), tokenSecret: TOKEN_SECRET }))
      .handler(async () => {
        const a = await step.run('a', () => 1);
        const b = await step.run('b', () => a + 1);
        const c = await step.run('c', () => b + 1);
        return { statusCode: 200, body: String(c) };
      });

    const response = (await handler(httpApiEvent({ method: 'POST', path: '/p' }) as never, lambdaContext())) as HttpResponse;

    expect(faults.left).toBe(0);
    expect(response).toMatchObject({ statusCode: 200, body: '3' });
    const stored = await journal.load(response.headers!['x-durable-run-id']!);
    expect(stored?.run.status).toBe('completed');
    expect(stored?.steps.map((s) => [s.id, s.output])).toEqual([
      ['a', '1'],
      ['b', '2'],
      ['c', '3'],
    ]);
  });

  it('answers 503 and arms no timer when the journal stays down as a run suspends', async () => {
    const client = localClient({ maxAttempts: 1 });
    const journal = await createTestJournal(client);
    // Every kind of write: the suspension of a first attempt is a conditional transaction.
    failNext(client, ['BatchWriteItemCommand', 'TransactWriteItemsCommand'], 1_000);
    const timer = new ManualTimer();
    const handler = middy()
      .use(durable({ journal, timer, tokenSecret: TOKEN_SECRET }))
      .handler(async () => {
        await step.run('flaky', () => {
          throw new RetryAfterError('later', '1m');
        });
      });

    const response = (await handler(httpApiEvent({ method: 'POST', path: '/p' }) as never, lambdaContext())) as HttpResponse;

    expect(response.statusCode).toBe(503);
    expect(timer.scheduled).toHaveLength(0);
  }, 60_000);

  it('fails a resume loudly when its writes cannot be stored, and a watchdog continues the run', async () => {
    const client = localClient({ maxAttempts: 1 });
    const journal = await createTestJournal(client);
    const timer = new ManualTimer();
    let fail = true;
    const handler = middy()
      .use(durable({ journal, timer, tokenSecret: TOKEN_SECRET }))
      .handler(async () => {
        await step.run('flaky', () => {
          if (fail) throw new RetryAfterError('later', '3s'); // due before the watchdog
        });
        return { statusCode: 200 };
      });
    await handler(httpApiEvent({ method: 'POST', path: '/p' }) as never, lambdaContext());
    fail = false;
    const outage = failNext(client, 'TransactWriteItemsCommand', 1_000);

    // A 1 s Lambda: its lease (deadline + 5 s) has expired by the time the watchdog is due.
    await expect(handler(timer.take() as never, lambdaContext({ timeoutMs: 1_000 }))).rejects.toBeInstanceOf(JournalError);

    // Lambda's own retry of that resume event would be refused (the attempt moved on); the watchdog continues the run.
    const watchdog = timer.scheduled.find((s) => s.event.reason === 'watchdog')!;
    expect(watchdog).toBeDefined();
    outage.heal();
    await new Promise((r) => setTimeout(r, Math.max(0, watchdog.at.getTime() - Date.now())));
    const finished = (await handler(watchdog.event as never, lambdaContext())) as HttpResponse;
    expect(finished.statusCode).toBe(200);
    expect((await journal.getRun(watchdog.event.runId))?.status).toBe('completed');
  }, 60_000);
});

describe('durableHandler() without Middy', () => {
  it('suspends, resumes and finishes like the middleware', async () => {
    const { journal, timer, result } = await durableFixture();
    let attempts = 0;
    const handler = durableHandler(
      async (event: { body: string }) => {
        const doubled = await step.run('double', () => {
          if (++attempts === 1) throw new RetryAfterError('busy', '1m');
          return JSON.parse(event.body).n * 2;
        });
        return { statusCode: 200, body: String(doubled) };
      },
      { journal, timer, tokenSecret: TOKEN_SECRET },
    );

    const first = (await handler(httpApiEvent({ method: 'POST', path: '/double', body: { n: 21 } }), lambdaContext())) as HttpResponse;
    await handler(timer.take(), lambdaContext());

    expect(first.statusCode).toBe(303);
    expect(await result(first.headers!.location!)).toMatchObject({ statusCode: 200, body: '42' });
  });

  it('rejects an event that is neither an API Gateway request nor a resume', async () => {
    const handler = durableHandler(async () => 'x', { journal: await createTestJournal(), timer: new ManualTimer() });

    await expect(handler({ hello: 'world' }, lambdaContext())).rejects.toThrow(/expected an API Gateway proxy event/);
  });
});

describe('x-durable-inject-failure', () => {
  const handlerWith = async () => {
    const fixture = await durableFixture();
    let runs = 0;
    const handler = fixture.wrap(async () => {
      await step.run('process', () => ++runs);
      return { statusCode: 200, body: 'ok' };
    });
    return { ...fixture, handler, runs: () => runs };
  };

  it('is ignored outside dev mode', async () => {
    const { handler, timer } = await handlerWith();

    const response = await handler(httpApiEvent({ method: 'POST', path: '/p', headers: { 'x-durable-inject-failure': 'process:1:1m' } }));

    expect(response.statusCode).toBe(200);
    expect(timer.scheduled).toHaveLength(0);
  });

  it('in dev mode fails the step on its first attempts, with the given Retry-After', async () => {
    process.env.DURABLE_DEV = '1';
    try {
      const { handler, timer, resume, result, runs } = await handlerWith();

      const first = await handler(httpApiEvent({ method: 'POST', path: '/p', headers: { 'x-durable-inject-failure': 'process:1:1m' } }));
      expect(first.statusCode).toBe(303);
      expect(timer.scheduled[0]!.at.getTime() - Date.now()).toBeGreaterThan(55_000);
      await resume(handler);

      expect(await result(first.headers!.location!)).toMatchObject({ statusCode: 200, body: 'ok' });
      expect(runs()).toBe(1);
    } finally {
      delete process.env.DURABLE_DEV;
    }
  });
});

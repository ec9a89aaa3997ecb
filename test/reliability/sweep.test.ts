/**
 * The sweep of stuck runs: runs that nothing would move again (a timer that was never armed, an
 * attempt that died) are resumed; runs that never progress are given up and fail with an answer.
 */
import middy from '@middy/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configureDurable, durable, RetryAfterError, step, sweepRuns, TimerError, type HttpResponse, type Timer } from '../../sdk/index.ts';
import { createEventsHandler, createResultsHandler } from '../../sdk/index.ts';
import { httpApiEvent, lambdaContext, ManualTimer, MemoryJournal, VirtualClock } from '../../sdk/testing/index.ts';
import { TOKEN_SECRET } from '../support/fixture.ts';

let clock: VirtualClock;
let journal: MemoryJournal;
beforeEach(() => {
  clock = new VirtualClock(Date.now());
  journal = new MemoryJournal({ now: () => clock.now() });
  configureDurable({ clock });
});
afterEach(() => configureDurable({ clock: undefined }));

const refusingTimer: Timer = {
  async schedule() {
    throw new TimerError('the timer service refused');
  },
};
const FUNCTION = 'sweep-endpoint';
const context = () => lambdaContext({ functionName: FUNCTION });
const minutes = (n: number) => n * 60_000;

describe('the sweep', () => {
  it('resumes a run whose timer could not be armed, once it is overdue by the grace', async () => {
    let attemptsOfA = 0;
    const handler = middy()
      .use(durable({ journal, timer: refusingTimer, tokenSecret: TOKEN_SECRET }))
      .handler(async () => {
        await step.run('a', () => {
          if (++attemptsOfA === 1) throw new RetryAfterError('rate limited', '1m');
        });
        return { statusCode: 200, body: 'done' };
      });
    await expect(handler(httpApiEvent({ method: 'POST', path: '/sweep' }) as never, context())).rejects.toThrow(TimerError);
    const timer = new ManualTimer();

    clock.advanceTo(clock.now() + minutes(1) + minutes(2) - 1_000);
    expect((await sweepRuns({ journal, timer })).rearmed).toEqual([]);
    clock.advanceTo(clock.now() + 2_000);
    const { rearmed } = await sweepRuns({ journal, timer });
    expect(rearmed).toHaveLength(1);
    await handler(timer.take() as never, context());

    expect(await journal.getRun(rearmed[0]!)).toMatchObject({ status: 'completed', response: { body: 'done' } });
    expect(attemptsOfA).toBe(2);
  });

  it('resumes a run whose attempt died after its first write, once its lease has expired', async () => {
    const calls: string[] = [];
    let writes = 0;
    let down = true;
    // The first batch lands, then the journal is gone for the rest of the attempt (as for an attempt
    // that dies: nothing more of it is stored).
    const flaky = new Proxy(journal, {
      get: (target, property) => {
        const value = Reflect.get(target, property) as unknown;
        if (property === 'write') return async (...args: Parameters<MemoryJournal['write']>) => {
          if (down && writes++ >= 1) throw new Error('connection reset');
          return target.write(...args);
        };
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const handler = middy()
      .use(durable({ journal: flaky, timer: new ManualTimer(), tokenSecret: TOKEN_SECRET }))
      .handler(async () => {
        await step.run('a', () => void calls.push('a'));
        await new Promise((resolve) => setImmediate(resolve));
        await step.run('b', () => void calls.push('b'));
        return { statusCode: 200, body: 'done' };
      });
    const first = (await handler(httpApiEvent({ method: 'POST', path: '/sweep' }) as never, context())) as HttpResponse;
    const runId = first.headers!['x-durable-run-id']!;
    expect(await journal.getRun(runId)).toMatchObject({ status: 'running', attempt: 1 });
    const timer = new ManualTimer();

    expect((await sweepRuns({ journal, timer, grace: '10s' })).rearmed).toEqual([]); // its lease has not expired
    clock.advanceTo(clock.now() + 30_000 + 5_000 + 10_000 + 1);
    expect((await sweepRuns({ journal: flaky, timer, grace: '10s' })).rearmed).toEqual([runId]);
    down = false;
    await handler(timer.take() as never, context());

    expect(await journal.getRun(runId)).toMatchObject({ status: 'completed', attempt: 2 });
    // At least once until journaled: 'b' ran in the attempt that died and again; 'a' never again.
    expect(calls).toEqual(['a', 'b', 'b']);
  });

  it('gives up on a run that makes no progress: its endpoint fails it, else the sweep does', async () => {
    const handler = middy()
      .use(durable({ journal, timer: refusingTimer, tokenSecret: TOKEN_SECRET }))
      .handler(async () => {
        await step.run('a', () => {
          throw new RetryAfterError('down', '1m');
        });
        return { statusCode: 200 };
      });
    await expect(handler(httpApiEvent({ method: 'POST', path: '/stuck' }) as never, context())).rejects.toThrow(TimerError);
    const runId = (await journal.listRuns())[0]!.runId;
    // The resumes go nowhere: the endpoint never takes the run.
    const timer = new ManualTimer();
    const reasons: string[] = [];
    for (let sweep = 0; sweep < 5; sweep++) {
      clock.advanceTo(clock.now() + minutes(3) + 1_000);
      const report = await sweepRuns({ journal, timer, maxRearms: 3 });
      reasons.push(report.rearmed.length ? 'rearmed' : report.abandoned.length ? 'abandoned' : report.failed.length ? 'failed' : 'nothing');
    }

    expect(reasons).toEqual(['rearmed', 'rearmed', 'rearmed', 'abandoned', 'failed']);
    expect(timer.scheduled.map((s) => s.event.reason)).toEqual(['sweep', 'sweep', 'sweep', 'abandon']);
    const run = await journal.getRun(runId);
    expect(run).toMatchObject({ status: 'failed', error: { name: 'RunStuck' } });
    const results = createResultsHandler({ journal, tokenSecret: TOKEN_SECRET });
    const { signToken } = await import('../../sdk/index.ts');
    const answer = (await results(httpApiEvent({ path: `/runs/${runId}?wait=0&token=${signToken(TOKEN_SECRET, runId, new Date(Date.now() + 60_000))}`, routeKey: 'GET /runs/{runId}' }))) as HttpResponse;
    expect(answer.statusCode).toBe(500);
    expect(JSON.parse(answer.body!)).toMatchObject({ runId, status: 'failed', error: { name: 'RunStuck' } });
  });

  it('lets the endpoint fail a run the sweep gave up on, with onFailure, without running the handler again', async () => {
    let handlerRuns = 0;
    const failures: string[] = [];
    const handler = middy()
      .use(
        durable({
          journal,
          timer: refusingTimer,
          tokenSecret: TOKEN_SECRET,
          onFailure: ({ error }) => (failures.push(error.name), { statusCode: 503, body: 'we gave up' }),
        }),
      )
      .handler(async () => {
        handlerRuns++;
        await step.run('a', () => {
          throw new RetryAfterError('down', '1m');
        });
        return { statusCode: 200 };
      });
    await expect(handler(httpApiEvent({ method: 'POST', path: '/stuck' }) as never, context())).rejects.toThrow(TimerError);
    const timer = new ManualTimer();
    for (let sweep = 0; sweep < 4; sweep++) {
      clock.advanceTo(clock.now() + minutes(3) + 1_000);
      await sweepRuns({ journal, timer, maxRearms: 3 });
    }
    const abandon = timer.scheduled.at(-1)!.event;
    expect(abandon.reason).toBe('abandon');

    const answer = (await handler(abandon as never, context())) as HttpResponse;

    expect(handlerRuns).toBe(1);
    expect(failures).toEqual(['RunStuck']);
    expect(answer).toMatchObject({ statusCode: 503, body: 'we gave up' });
    expect(await journal.getRun(abandon.runId)).toMatchObject({ status: 'failed', response: { statusCode: 503 } });
  });
});

describe('an event whose run could not be resumed', () => {
  it('leaves the run due now, so the sweep resumes it before its wait times out', async () => {
    const handler = middy()
      .use(durable({ journal, timer: new ManualTimer(), tokenSecret: TOKEN_SECRET }))
      .handler(async () => {
        const event = await step.waitForEvent('approved', { event: 'deal/approved', timeout: '1d' });
        return { statusCode: 200, body: JSON.stringify({ approved: event !== null }) };
      });
    const first = (await handler(httpApiEvent({ method: 'POST', path: '/deal' }) as never, context())) as HttpResponse;
    const runId = first.headers!['x-durable-run-id']!;
    const events = createEventsHandler({ journal, timer: refusingTimer });

    const answer = await events(httpApiEvent({ method: 'POST', path: '/events', routeKey: 'POST /events', body: { name: 'deal/approved', data: {} } }));
    expect(JSON.parse(answer.body!).resumed).toEqual([]);
    clock.advanceTo(clock.now() + minutes(2) + 1_000);
    const timer = new ManualTimer();
    expect((await sweepRuns({ journal, timer })).rearmed).toEqual([runId]);
    await handler(timer.take() as never, context());

    expect(await journal.getRun(runId)).toMatchObject({ status: 'completed', response: { body: '{"approved":true}' } });
  });
});

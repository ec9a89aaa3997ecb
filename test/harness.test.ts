/**
 * The test harness (`durable-endpoints/testing`) as users write tests with it, and the engine's
 * fast specifications on it: memory journal, virtual clock, no Java, no network.
 */
import middy from '@middy/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { handler as orders } from '../examples/orders.ts';
import { handler as processHandler, outbox } from '../examples/process.ts';
import { handler as remind } from '../examples/remind.ts';
import { durable, durableHandler, NonRetriableError, step } from '../sdk/index.ts';
import { createHarness, httpApiEvent, lambdaContext, type DurableHarness } from '../sdk/testing/index.ts';

let harness: DurableHarness;
beforeEach(() => {
  harness = createHarness();
});
afterEach(() => harness.close());

const body = (response: { body?: string }) => JSON.parse(response.body ?? 'null');

describe('the test harness', () => {
  it('retries the failed step and never re-runs the steps before it', async () => {
    const sent = outbox.length;
    const run = await harness.call(processHandler, { method: 'POST', path: '/process', body: { userId: 'u1', data: { a: 1 } }, fail: { process: 4 } });

    expect(run.response.statusCode).toBe(303);
    const final = await run.finish();

    expect(final.statusCode).toBe(200);
    expect(body(final)).toMatchObject({ success: true, result: { fields: 1 } });
    expect((await run.steps()).map((s) => [s.id, s.status, s.attempts])).toEqual([
      ['enrich-data', 'completed', 1],
      ['process', 'completed', 5],
      ['notify', 'completed', 1],
    ]);
    expect(outbox.length - sent).toBe(1);
  });

  it('answers without a run when the handler calls no step', async () => {
    const run = await harness.call(processHandler, { method: 'POST', path: '/process', body: 'not json' });

    expect(run.response.statusCode).toBe(400);
    expect(run.runId).toBeUndefined();
    expect(await run.finish()).toBe(run.response);
  });

  it('travels through a 20-day sleep in virtual time', async () => {
    const run = await harness.call(remind, { path: '/remind?after=20d' });
    expect(run.response.statusCode).toBe(303);
    expect(run.response.headers?.['retry-after']).toBe(String(20 * 86_400));

    await harness.advance('19d');
    expect(await run.status()).toBe('sleeping');
    await harness.advance('1d');

    expect(await run.status()).toBe('completed');
    expect((await run.step('wait'))?.status).toBe('completed');
  });

  it('resumes a run waiting for an event when the event is sent, and times out to null without one', async () => {
    const approved = await harness.call(orders, { method: 'POST', path: '/orders', body: { orderId: 'o-1', approvalTimeout: '1h' } });
    const ignored = await harness.call(orders, { method: 'POST', path: '/orders', body: { orderId: 'o-2', approvalTimeout: '1h' } });
    expect(await approved.status()).toBe('waiting');

    const sent = await harness.sendEvent({ name: 'order/approved', data: { orderId: 'o-1' } });

    expect(sent.resumed).toEqual([approved.runId]);
    expect(body(await approved.finish())).toEqual({ orderId: 'o-1', approved: true });
    expect(await ignored.status()).toBe('waiting');
    expect(body(await ignored.finish())).toEqual({ orderId: 'o-2', approved: false });
  });

  it('waits out a RetryAfterError delay before the next attempt', async () => {
    const charge = middy()
      .use(durable())
      .handler(async () => ({ statusCode: 200, body: JSON.stringify(await step.run('charge', () => 'charged')) }));
    const run = await harness.call(charge, { method: 'POST', path: '/charge', fail: { charge: { times: 1, retryAfter: '30s' } } });
    expect(run.response.headers?.['retry-after']).toBe('30');

    await harness.advance('29s');
    expect((await run.step('charge'))?.attempts).toBe(1);
    await harness.advance('1s');

    expect(await run.status()).toBe('completed');
    expect((await run.step('charge'))?.attempts).toBe(2);
  });

  it('hands a step that outlasts the invocation off until its retries are spent, then fails the run', async () => {
    const slow = durableHandler(async () => {
      await step.run('slow', () => harness.clock.sleep(40_000), { retries: 2 });
      return { statusCode: 200, body: 'done' };
    });
    const run = await harness.call(slow, { path: '/slow' });
    expect(run.response.statusCode).toBe(303);

    const final = await run.finish();

    expect(final.statusCode).toBe(500);
    expect(body(final).error.name).toBe('HandoffTimeout');
    expect(await run.step('slow')).toMatchObject({ status: 'failed', attempts: 3 });
  });

  it('fails a run whose steps change order between attempts', async () => {
    let attempts = 0;
    const reordering = durableHandler(async () => {
      attempts++;
      for (const id of attempts === 1 ? ['x', 'y'] : ['y', 'x']) await step.run(id, () => id);
      await step.sleep('later', '1m');
      return { statusCode: 200, body: 'unreachable' };
    });
    const run = await harness.call(reordering, { path: '/reorder' });
    expect(run.response.statusCode).toBe(303);

    const final = await run.finish();

    expect(final.statusCode).toBe(500);
    expect(body(final).error.name).toBe('NonDeterminismError');
    expect(attempts).toBe(2);
  });

  it('fails at once on a NonRetriableError and keeps the error for the caller', async () => {
    const refusing = durableHandler(async () => {
      await step.run('first', () => 1);
      await step.run('refuse', () => {
        throw new NonRetriableError('card declined');
      });
      return { statusCode: 200 };
    });
    const run = await harness.call(refusing, { method: 'POST', path: '/refuse' });

    expect(run.response.statusCode).toBe(500);
    expect(body(run.response).error).toEqual({ name: 'NonRetriableError', message: 'card declined' });
    expect(await run.step('refuse')).toMatchObject({ status: 'failed', attempts: 1 });
  });

  it('puts the process defaults back when closed', async () => {
    harness.close();
    const outside = middy()
      .use(durable({ tokenSecret: 'x'.repeat(32) }))
      .handler(async () => step.run('s', () => 1));
    try {
      await expect(outside(httpApiEvent({ path: '/outside' }) as never, lambdaContext())).rejects.toThrow(/no journal configured/);
    } finally {
      harness = createHarness();
    }
  });
});

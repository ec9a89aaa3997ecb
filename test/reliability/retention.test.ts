/** Runs that wait longer than the journal keeps items, on the memory journal (which expires items on time). */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { handler as remind } from '../../examples/remind.ts';
import { durableHandler, step } from '../../sdk/index.ts';
import { createHarness, type DurableHarness } from '../../sdk/testing/index.ts';

let harness: DurableHarness;
beforeEach(() => {
  harness = createHarness();
});
afterEach(() => harness.close());

describe('a wait longer than the retention', () => {
  it('keeps a run that sleeps 45 days (30 kept by default) until it wakes and completes', async () => {
    const run = await harness.call(remind, { path: '/remind?after=45d' });

    await harness.advance('44d');
    expect(await run.status()).toBe('sleeping');
    await harness.advance('1d');

    expect(await run.status()).toBe('completed');
    expect((await run.steps()).map((s) => s.id)).toEqual(['wait', 'remind']);
  });

  it('keeps the steps journaled before a long wait for an event, and the waiter', async () => {
    let first = 0;
    const approval = durableHandler(async () => {
      await step.run('first', () => ++first);
      const event = await step.waitForEvent('approved', { event: 'deal/approved', timeout: '60d' });
      return { statusCode: 200, body: JSON.stringify({ approved: event !== null }) };
    });
    const run = await harness.call(approval, { method: 'POST', path: '/deal' });
    await harness.advance('40d');

    const sent = await harness.sendEvent({ name: 'deal/approved', data: {} });

    expect(sent.resumed).toEqual([run.runId]);
    expect(JSON.parse((await run.finish()).body!)).toEqual({ approved: true });
    expect(first).toBe(1);
  });

  it('keeps a finished run for the retention after it ended', async () => {
    const run = await harness.call(remind, { path: '/remind?after=45d' });
    await run.finish();

    await harness.advance('29d');
    expect(await run.status()).toBe('completed');
  });
});

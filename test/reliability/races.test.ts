/**
 * Interleavings that once ran a journaled step again or lost a run, each forced deterministically
 * with a wrapper that stops the journal or the timer at the exact call.
 */
import middy from '@middy/core';
import { describe, expect, it } from 'vitest';
import { durable, durableHandler, resumeEvent, step, type ResumeEvent, type Timer } from '../../sdk/index.ts';
import { createHarness, httpApiEvent, lambdaContext, ManualTimer, MemoryJournal } from '../../sdk/testing/index.ts';
import { TOKEN_SECRET } from '../support/fixture.ts';
import { eventually, latch, pauseAt } from '../support/pause.ts';

const FUNCTION = 'races-endpoint';
const context = () => lambdaContext({ functionName: FUNCTION });

describe('a resume racing the attempt before it', () => {
  it('reads the steps only after taking the lease, so it never runs a step the attempt before it journaled', async () => {
    const memory = new MemoryJournal();
    const { wrapped: journal, reached, release } = pauseAt(memory, 'acquireLease');
    const timer = new ManualTimer();
    const stepA = latch();
    let runsOfA = 0;
    const handler = middy()
      .use(durable({ journal, timer, tokenSecret: TOKEN_SECRET }))
      .handler(async () => {
        await step.run('zero', () => 0);
        await step.run('a', async () => {
          runsOfA++;
          await stepA.opened;
          return 'a';
        });
        await step.sleep('nap', '1h');
        return { statusCode: 200, body: 'done' };
      });

    const first = handler(httpApiEvent({ method: 'POST', path: '/race' }) as never, context()) as Promise<{ statusCode: number }>;
    const [run] = await eventually(async () => {
      const runs = await memory.listRuns();
      return runs.length > 0 ? runs : undefined;
    }, 'the run is journaled');
    // An event resumes the run while its first attempt is still working (the events route resumes
    // the attempt the run is at); the resume stops right at taking the lease.
    const resumed = handler(resumeEvent({ ...run!, functionName: FUNCTION }, 'event') as never, context());
    await reached;
    stepA.open(); // the first attempt journals 'a' and suspends on the sleep, releasing the lease
    expect((await first).statusCode).toBe(303);
    release();
    await resumed;

    expect(runsOfA).toBe(1);
    expect((await memory.load(run!.runId))?.steps.map((s) => [s.id, s.status])).toEqual([
      ['zero', 'completed'],
      ['a', 'completed'],
      ['nap', 'sleeping'],
    ]);
  });
});

describe('an attempt closes once', () => {
  it('keeps the resumed attempt’s progress when arming the timer fails after the resume was armed', async () => {
    const journal = new MemoryJournal();
    const delivered: ResumeEvent[] = [];
    // An ambiguous failure: the timer service armed the resume (which runs and finishes the run),
    // then the call failed on the way back.
    const timer: Timer = {
      async schedule(event) {
        delivered.push(event);
        if (delivered.length === 1) await handler(event as never, context() as never);
        throw new Error('socket hang up');
      },
    };
    let attempts = 0;
    const handler: (event: never, context: never) => Promise<unknown> = middy()
      .use(durable({ journal, timer, tokenSecret: TOKEN_SECRET, retries: 3, backoff: { initial: 60_000 } }))
      .handler(async () => {
        attempts++;
        try {
          await step.run('flaky', () => {
            if (attempts === 1) throw new Error('first attempt fails');
            return 'ok';
          });
        } catch {
          // A handler that catches errors around its steps (the run still suspends).
        }
        return { statusCode: 200, body: 'answered' };
      }) as never;

    await expect(handler(httpApiEvent({ method: 'POST', path: '/close-once' }) as never, context() as never)).rejects.toThrow(/socket hang up/);

    const [run] = await journal.listRuns();
    expect(run).toMatchObject({ status: 'completed', attempt: 2 });
    expect(delivered.map((e) => [e.attempt, e.reason])).toEqual([[1, 'retry']]);
  });
});

describe('a first attempt that was taken over', () => {
  it('writes nothing once another attempt holds the run, so the run that attempt completed stays completed', async () => {
    const harness = createHarness();
    try {
      const stuck = latch();
      let attempts = 0;
      const handler = durableHandler(async () => {
        attempts++;
        await step.run('a', () => 'a');
        // Work outside any step cannot be unwound at the hand-off: a watchdog takes the run over
        // once this attempt's lease has expired.
        if (attempts === 1) await stuck.opened;
        return { statusCode: 200, body: `attempt ${attempts}` };
      });
      const first = harness.call(handler, { method: 'POST', path: '/stuck' });
      await eventually(async () => ((await harness.journal.listRuns()).length > 0 ? true : undefined), 'the run is journaled');

      await harness.advance('40s'); // past the hand-off, the unwind grace and the lease: the watchdog resumes the run
      const [run] = await harness.journal.listRuns();
      expect(run).toMatchObject({ status: 'completed', attempt: 2 });

      stuck.open(); // the first attempt finally ends, and closes as handed off
      const answer = (await first).response;

      expect(answer.statusCode).toBe(303);
      expect(await harness.journal.getRun(run!.runId)).toMatchObject({ status: 'completed', attempt: 2, response: { body: 'attempt 2' } });
    } finally {
      harness.close();
    }
  });
});

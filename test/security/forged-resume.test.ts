/**
 * Attack: the timer's state machine may invoke every endpoint of a deployment; whoever can start
 * it (or any invoker of an endpoint) sends a resume event naming someone else's run.
 */
import middy from '@middy/core';
import { describe, expect, it } from 'vitest';
import { durable, resumeEvent, RetryAfterError, step, type HttpResponse } from '../../sdk/index.ts';
import { httpApiEvent, lambdaContext, ManualTimer, MemoryJournal } from '../../sdk/testing/index.ts';
import { TOKEN_SECRET } from '../support/fixture.ts';

describe('a resume event for a run of another endpoint', () => {
  it('is refused without taking the run or running the handler', async () => {
    const journal = new MemoryJournal();
    const timer = new ManualTimer();
    const calls: string[] = [];
    const endpoint = (name: string) =>
      middy()
        .use(durable({ journal, timer, tokenSecret: TOKEN_SECRET }))
        .handler(async () => {
          calls.push(name);
          await step.run('pay', () => {
            throw new RetryAfterError('later', '1h');
          });
        });
    const payments = endpoint('payments');
    const reports = endpoint('reports');
    const first = (await payments(httpApiEvent({ method: 'POST', path: '/pay' }) as never, lambdaContext({ functionName: 'payments-fn' }))) as HttpResponse;
    const run = (await journal.getRun(first.headers!['x-durable-run-id']!))!;

    const forged = (await reports(resumeEvent({ ...run, functionName: 'reports-fn' }, 'retry') as never, lambdaContext({ functionName: 'reports-fn' }))) as HttpResponse;

    expect(forged.statusCode).toBe(403);
    expect(calls).toEqual(['payments']);
    expect(await journal.getRun(run.runId)).toEqual(run);
  });
});

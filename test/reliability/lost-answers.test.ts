/**
 * A DynamoDB request applied whose answer is lost (a connection reset, a timeout after the write
 * landed): the AWS SDK sends it again, and a conditional write then meets its own earlier success.
 * Found by `npm run chaos`; the lost answer is injected into the SDK client's middleware.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { configureDurable, step } from '../../sdk/index.ts';
import { VirtualClock } from '../../sdk/testing/index.ts';
import { createTestJournal, durableFixture, httpApiEvent, lambdaContext, localClient } from '../support/fixture.ts';
import { storeRun } from '../support/journal.ts';

/** The next `command` is applied; its answer is replaced by a connection reset, which the SDK retries. */
function loseNextAnswer(client: DynamoDBClient, command: string): void {
  let armed = true;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (armed && context.commandName === command) {
        armed = false;
        throw Object.assign(new Error(`answer of ${command} lost (socket hang up)`), { code: 'ECONNRESET' });
      }
      return result;
    },
    { step: 'deserialize', name: `lose-${command}` },
  );
}

describe('a conditional write whose answer was lost', () => {
  it('takes the lease all the same: the retry finds the lease this resume took', async () => {
    const client = localClient();
    const journal = await createTestJournal(client);
    const run = await storeRun(journal, { status: 'sleeping', wakeAt: new Date().toISOString() });
    loseNextAnswer(client, 'UpdateItemCommand');

    const leased = await journal.acquireLease(run.runId, 1, 'resume-a', Date.now() + 60_000);

    expect(leased).toMatchObject({ attempt: 2, leaseOwner: 'resume-a', status: 'running' });
    expect(await journal.acquireLease(run.runId, 1, 'resume-b', Date.now() + 60_000)).toBeUndefined();
  });

  it('claims the Idempotency-Key all the same, so the request is not refused by its own claim', async () => {
    const client = localClient();
    const journal = await createTestJournal(client);
    const { wrap } = await durableFixture({ journal });
    const handler = wrap(async () => ({ statusCode: 201, body: String(await step.run('charge', () => 5)) }));
    loseNextAnswer(client, 'PutItemCommand');

    const answer = await handler(httpApiEvent({ method: 'POST', path: '/charge', body: {}, headers: { 'idempotency-key': 'k-lost' } }));

    expect(answer).toMatchObject({ statusCode: 201, body: '5' });
  });
});

describe('an Idempotency-Key whose request died before its first step', () => {
  it('is taken over once that request’s Lambda deadline has passed, not 15 minutes later', async () => {
    const clock = new VirtualClock(Date.now());
    configureDurable({ clock });
    try {
      const { wrap } = await durableFixture();
      let calls = 0;
      const handler = wrap(async () => {
        if (++calls === 1) await new Promise(() => undefined); // the first request's worker dies here
        return { statusCode: 201, body: String(await step.run('charge', () => 5)) };
      });
      const request = () => httpApiEvent({ method: 'POST', path: '/charge', body: {}, headers: { 'idempotency-key': 'k-died' } });
      void handler(request(), lambdaContext({ timeoutMs: 3_000 }));
      await new Promise((resolve) => setTimeout(resolve, 50));

      expect((await handler(request())).statusCode).toBe(409); // still within its deadline
      clock.advanceTo(clock.now() + 3_000 + 5_000 + 1);
      const retried = await handler(request());

      expect(retried).toMatchObject({ statusCode: 201, body: '5' });
    } finally {
      configureDurable({ clock: undefined });
    }
  });
});

/**
 * What one adapter promises beyond the journal's contract, or must survive where the other cannot
 * be made to fail: DynamoDB's transaction conflicts (DynamoDB Local serializes transactions and never
 * reports one, so they are injected), and MemoryJournal's clock and timing.
 */
import { ScanCommand, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { LeaseLostError } from '../sdk/core/errors.ts';
import { MemoryJournal } from '../sdk/journal/memory.ts';
import { createTestJournal, localClient } from './support/fixture.ts';
import { claimFor, inAMinute, stepRecord, stepWrite, storeRun, storeWaitingRun, ttlIn, waiterFor, waitingStep } from './support/journal.ts';

/** `next(times)` makes the next `times` transactions fail as DynamoDB fails one that collides with another transaction. */
function injectConflicts(client: ReturnType<typeof localClient>) {
  let left = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'TransactWriteItemsCommand' && left > 0) {
        left--;
        throw new TransactionCanceledException({
          message: 'Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict, None]',
          $metadata: { httpStatusCode: 400 },
          CancellationReasons: [{ Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' }, { Code: 'None' }],
        });
      }
      return next(args);
    },
    { step: 'initialize', name: 'inject-transaction-conflict' },
  );
  return {
    next(times: number) {
      left = times;
    },
    get left() {
      return left;
    },
  };
}

describe('DynamoJournal when DynamoDB cancels a transaction for a conflict', () => {
  it('sends it again instead of reading the conflict as a lost lease or a waiter resolved by someone else', async () => {
    const client = localClient();
    const journal = await createTestJournal(client);
    const run = await storeRun(journal, { leaseOwner: 'a', leaseExpiresAt: inAMinute() });
    const fence = { runId: run.runId, owner: 'a' };
    const step = waitingStep(0);
    const waiter = waiterFor(run, step);

    const conflicts = injectConflicts(client);

    conflicts.next(2);
    await journal.registerWaiter(waiter, step, fence);
    conflicts.next(2);
    expect(await journal.resolveWaiting(waiter, '{"id":"e-1"}')).toMatchObject({ resolved: true, step: { status: 'completed' } });
    conflicts.next(2);
    await journal.write([stepWrite(run, stepRecord(1))], fence);

    expect(conflicts.left).toBe(0);
    expect((await journal.load(run.runId))?.steps.map((s) => s.seq)).toEqual([0, 1]);
  });

  it('throws the conflict itself, never LeaseLostError, when conflicts go on', async () => {
    const client = localClient();
    const journal = await createTestJournal(client);
    const run = await storeRun(journal, { leaseOwner: 'a', leaseExpiresAt: inAMinute() });
    const step = waitingStep(0);
    injectConflicts(client).next(100);

    const error = await journal.registerWaiter(waiterFor(run, step), step, { runId: run.runId, owner: 'a' }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(TransactionCanceledException);
    expect(error).not.toBeInstanceOf(LeaseLostError);
  });
});

describe('DynamoJournal keeping a run past its retention', () => {
  it('raises the ttl attribute of the request, the steps and the waiters of the run', async () => {
    const journal = await createTestJournal();
    const { run } = await storeWaitingRun(journal, ttlIn(3_600));
    const later = ttlIn(90 * 86_400);

    await journal.keepUntil(run.runId, later);

    const { Items = [] } = await journal.client.send(new ScanCommand({ TableName: journal.tableName }));
    const ttls = Items.map((item) => [item.sk!.S!.split('#')[0], Number(item.ttl?.N)]).sort();
    expect(ttls).toEqual([['REQUEST', later], ['RUN', later], ['STEP', later], ['STEP', later], ['WAITER', later]]);
  });
});

describe('MemoryJournal', () => {
  it('keeps every item of a run whose ttl was raised past the old one, waiters included', async () => {
    let now = Date.parse('2030-01-01T00:00:00.000Z');
    const journal = new MemoryJournal({ now: () => now });
    const { run, waiting } = await storeWaitingRun(journal, now / 1_000 + 3_600);

    await journal.keepUntil(run.runId, now / 1_000 + 90 * 86_400);
    now += 30 * 86_400_000;

    expect((await journal.load(run.runId))?.steps).toHaveLength(2);
    expect(await journal.waiters(waiterFor(run, waiting).name)).toHaveLength(1);
    now += 61 * 86_400_000;
    expect(await journal.load(run.runId)).toBeUndefined();
  });

  it('measures leases and TTL with the clock it is given', async () => {
    let now = Date.parse('2030-01-01T00:00:00.000Z');
    const journal = new MemoryJournal({ now: () => now });
    const ttl = now / 1_000 + 3_600;
    const run = await storeRun(journal, { leaseOwner: 'a', leaseExpiresAt: now + 1_000, ttl });
    await journal.claimIdempotencyKey(claimFor(run.runId, { ttl }));

    expect(await journal.acquireLease(run.runId, 1, 'b', now + 60_000)).toBeUndefined();
    now += 1_001;
    expect(await journal.acquireLease(run.runId, 1, 'b', now + 60_000)).toMatchObject({ leaseOwner: 'b', updatedAt: '2030-01-01T00:00:01.001Z' });
    now += 3_600_000;
    expect(await journal.getRun(run.runId)).toBeUndefined();
    expect(await journal.claimIdempotencyKey(claimFor('run-2'))).toEqual({ claimed: true });
  });

  it('answers on a later macrotask, as a store over the network does, not within the caller’s microtasks', async () => {
    const journal = new MemoryJournal();
    let answered = false;

    const read = journal.getRun('run-1').then(() => (answered = true));
    for (let i = 0; i < 100; i++) await Promise.resolve();

    expect(answered).toBe(false);
    await read;
    expect(answered).toBe(true);
  });
});

/**
 * The journal's contract (sdk/journal/journal.ts), the same specifications for every adapter:
 * idempotency keys, event waiters, events and TTL. Runs, fences, leases: journal-contract.test.ts.
 *
 * TTL: the contract is that an item is kept until its `ttl`, and may be gone any time after.
 * DynamoDB deletes expired items up to two days late (DynamoDB Local never does), so "gone after
 * ttl" is checked only for an adapter that promises it (`expiresOnTime`: MemoryJournal).
 */
import { describe, expect, it } from 'vitest';
import { LeaseLostError } from '../sdk/core/errors.ts';
import { claimFor, inAMinute, journalAdapters, receivedEvent, stepRecord, stepWrite, storeRun, ttlIn, waiterFor, waitingStep } from './support/journal.ts';

describe.each(journalAdapters)('$name', ({ create, expiresOnTime }) => {
  describe('idempotency keys', () => {
    it('ties a free key to a run and answers later claims with the claim that holds it', async () => {
      const journal = await create();
      const first = claimFor('run-1');

      expect(await journal.claimIdempotencyKey(first)).toEqual({ claimed: true });
      expect(await journal.claimIdempotencyKey(claimFor('run-2', { fingerprint: 'fp-2' }))).toEqual({ claimed: false, holder: first });
      expect(await journal.claimIdempotencyKey(claimFor('run-3', { caller: 'caller-2' }))).toEqual({ claimed: true });
      expect(await journal.claimIdempotencyKey(claimFor('run-4', { endpoint: 'GET /quote' }))).toEqual({ claimed: true });
    });

    it('ties a key to exactly one of concurrent claims', async () => {
      const journal = await create();

      const results = await Promise.all(['run-1', 'run-2', 'run-3', 'run-4', 'run-5'].map((runId) => journal.claimIdempotencyKey(claimFor(runId))));

      expect(results.filter((result) => result.claimed)).toHaveLength(1);
      const holders = new Set(results.flatMap((result) => (result.claimed ? [] : [result.holder.runId])));
      expect(holders.size).toBe(1);
      expect(await journal.claimIdempotencyKey(claimFor('run-6'))).toMatchObject({ claimed: false, holder: { runId: [...holders][0] } });
    });

    it('takes a key over only from the run it names as replaced', async () => {
      const journal = await create();
      const first = claimFor('run-1');
      await journal.claimIdempotencyKey(first);

      expect(await journal.claimIdempotencyKey(claimFor('run-2'), 'run-9')).toEqual({ claimed: false, holder: first });
      expect(await journal.claimIdempotencyKey(claimFor('run-2'), 'run-1')).toEqual({ claimed: true });
      expect(await journal.claimIdempotencyKey(claimFor('run-3'))).toMatchObject({ claimed: false, holder: { runId: 'run-2' } });
    });

    it('claims a free key even when asked to replace a run that no longer holds it', async () => {
      const journal = await create();
      await journal.claimIdempotencyKey(claimFor('run-1'));
      await journal.releaseIdempotencyKey(claimFor('run-1'));

      expect(await journal.claimIdempotencyKey(claimFor('run-2'), 'run-1')).toEqual({ claimed: true });
      expect(await journal.claimIdempotencyKey(claimFor('run-3'))).toMatchObject({ claimed: false, holder: { runId: 'run-2' } });
    });

    it('frees a key only for the run that holds it', async () => {
      const journal = await create();
      await journal.claimIdempotencyKey(claimFor('run-1'));

      await journal.releaseIdempotencyKey(claimFor('run-2'));
      expect(await journal.claimIdempotencyKey(claimFor('run-3'))).toMatchObject({ claimed: false, holder: { runId: 'run-1' } });
      await journal.releaseIdempotencyKey(claimFor('run-1'));
      expect(await journal.claimIdempotencyKey(claimFor('run-3'))).toEqual({ claimed: true });
      await expect(journal.releaseIdempotencyKey(claimFor('run-4', { key: 'never-claimed' }))).resolves.toBeUndefined();
    });
  });

  describe('event waiters', () => {
    it('stores a waiter with its waiting step, found by the event name', async () => {
      const journal = await create();
      const run = await storeRun(journal);
      const step = waitingStep(0);
      const waiter = waiterFor(run, step);

      await journal.registerWaiter(waiter, step);

      expect(await journal.waiters('order.paid')).toEqual([waiter]);
      expect(await journal.waiters('order.shipped')).toEqual([]);
      expect((await journal.load(run.runId))?.steps).toEqual([step]);
    });

    it('stores a waiter under a fence only while the fence owner holds the lease', async () => {
      const journal = await create();
      const run = await storeRun(journal, { leaseOwner: 'a', leaseExpiresAt: inAMinute() });
      const [first, second] = [waitingStep(0), waitingStep(1)];

      await expect(journal.registerWaiter(waiterFor(run, first), first, { runId: run.runId, owner: 'b' })).rejects.toBeInstanceOf(LeaseLostError);
      await journal.registerWaiter(waiterFor(run, second), second, { runId: run.runId, owner: 'a' });

      expect((await journal.waiters('order.paid')).map((w) => w.stepId)).toEqual([second.id]);
      expect((await journal.load(run.runId))?.steps).toEqual([second]);
    });

    it('completes a waiting step once, drops its waiter, and says which call completed it', async () => {
      const journal = await create();
      const run = await storeRun(journal);
      const step = waitingStep(0);
      const waiter = waiterFor(run, step);
      await journal.registerWaiter(waiter, step);

      const first = await journal.resolveWaiting(waiter, '{"id":"e-1"}');
      const again = await journal.resolveWaiting(waiter, 'null');

      const completed = { ...step, status: 'completed', output: '{"id":"e-1"}', endedAt: expect.any(String) };
      expect(first).toEqual({ resolved: true, step: completed });
      expect(again).toEqual({ resolved: false, step: first.step });
      expect(await journal.waiters('order.paid')).toEqual([]);
    });

    it('lets exactly one of an event and the timeout complete a waiting step', async () => {
      const journal = await create();
      const run = await storeRun(journal);
      const step = waitingStep(0);
      const waiter = waiterFor(run, step);
      await journal.registerWaiter(waiter, step);

      const outputs = ['{"id":"e-1"}', 'null', '{"id":"e-2"}'];
      const results = await Promise.all(outputs.map((output) => journal.resolveWaiting(waiter, output)));

      const winners = results.flatMap((result, i) => (result.resolved ? [outputs[i]] : []));
      expect(winners).toHaveLength(1);
      for (const result of results) expect(result.step).toMatchObject({ status: 'completed', output: winners[0] });
    });

    it('leaves a step that is not waiting, and its waiter, as they are', async () => {
      const journal = await create();
      const run = await storeRun(journal);
      const step = waitingStep(0);
      const waiter = waiterFor(run, step);
      await journal.registerWaiter(waiter, step);
      const retrying = { ...step, status: 'retrying' as const };
      await journal.write([stepWrite(run, retrying)]);

      expect(await journal.resolveWaiting(waiter, 'null')).toEqual({ resolved: false, step: retrying });
      expect(await journal.waiters('order.paid')).toEqual([waiter]);
      expect(await journal.resolveWaiting({ ...waiter, stepId: 'unknown' }, 'null')).toEqual({ resolved: false, step: undefined });
    });
  });

  describe('events', () => {
    it('records an event once per name and id, answering a repeat with the first recording', async () => {
      const journal = await create();
      const event = receivedEvent({ id: 'e-1', data: { n: 1 } });

      expect(await journal.recordEvent(event, ttlIn(600))).toEqual({ fresh: true, event });
      expect(await journal.recordEvent({ ...event, data: { n: 2 } }, ttlIn(600))).toEqual({ fresh: false, event });
      expect(await journal.recordEvent({ ...event, name: 'order.shipped' }, ttlIn(600))).toMatchObject({ fresh: true });
      expect((await journal.recentEvents('order.paid', new Date(0))).map((e) => e.data)).toEqual([{ n: 1 }]);
    });

    it('keeps event data as JSON', async () => {
      const journal = await create();
      await journal.recordEvent(receivedEvent({ id: 'e-1', data: { at: new Date(0), skipped: undefined } }), ttlIn(600));
      await journal.recordEvent(receivedEvent({ id: 'e-2', data: undefined }), ttlIn(600));

      const events = await journal.recentEvents('order.paid', new Date(0));
      expect(Object.fromEntries(events.map((e) => [e.id, e.data]))).toStrictEqual({ 'e-1': { at: '1970-01-01T00:00:00.000Z' }, 'e-2': null });
    });

    it('lists the events of a name received at or after a time, oldest first', async () => {
      const journal = await create();
      const at = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();
      const events = [receivedEvent({ id: 'e-a', receivedAt: at(1_000) }), receivedEvent({ id: 'e-b', receivedAt: at(3_000) }), receivedEvent({ id: 'e-c', receivedAt: at(2_000) })];
      for (const event of [...events, receivedEvent({ name: 'order.shipped' })]) await journal.recordEvent(event, ttlIn(600));

      expect(await journal.recentEvents('order.paid', new Date(events[2]!.receivedAt))).toEqual([events[2], events[0]]);
      expect(await journal.recentEvents('order.refunded', new Date(0))).toEqual([]);
    });
  });

  describe('time to live', () => {
    it('keeps every kind of item until its ttl', async () => {
      const journal = await create();
      const ttl = ttlIn(30);
      const step = waitingStep(0);
      const run = await storeRun(journal, { ttl }, [stepRecord(1)]);
      await journal.registerWaiter(waiterFor(run, step), step);
      await journal.claimIdempotencyKey(claimFor(run.runId, { ttl }));
      await journal.recordEvent(receivedEvent({ id: 'e-1' }), ttl);

      expect((await journal.load(run.runId))?.steps).toHaveLength(2);
      expect(await journal.listRuns()).toHaveLength(1);
      expect(await journal.waiters('order.paid')).toHaveLength(1);
      expect(await journal.claimIdempotencyKey(claimFor('run-2'))).toMatchObject({ claimed: false });
      expect(await journal.recordEvent(receivedEvent({ id: 'e-1' }), ttl)).toMatchObject({ fresh: false });
    });

    it.runIf(expiresOnTime)('forgets every kind of item once its ttl has passed', async () => {
      const journal = await create();
      const ttl = ttlIn(-2);
      const step = waitingStep(0);
      const run = await storeRun(journal, { ttl }, [stepRecord(1)]);
      await journal.registerWaiter(waiterFor(run, step, { ttl }), step);
      await journal.claimIdempotencyKey(claimFor(run.runId, { ttl }));
      await journal.recordEvent(receivedEvent({ id: 'e-1' }), ttl);

      expect(await journal.load(run.runId)).toBeUndefined();
      expect(await journal.getRun(run.runId)).toBeUndefined();
      expect(await journal.listRuns()).toEqual([]);
      expect(await journal.waiters('order.paid')).toEqual([]);
      expect(await journal.resolveWaiting(waiterFor(run, step), 'null')).toEqual({ resolved: false, step: undefined });
      expect(await journal.claimIdempotencyKey(claimFor('run-2'))).toEqual({ claimed: true });
      expect(await journal.recordEvent(receivedEvent({ id: 'e-1' }), ttlIn(600))).toMatchObject({ fresh: true });
    });
  });
});

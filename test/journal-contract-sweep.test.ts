/**
 * The journal contract for the sweep of stuck runs and for runs that outlive the retention, run on
 * every adapter (DynamoDB Local and the memory journal).
 */
import { describe, expect, it } from 'vitest';
import { inAMinute, journalAdapters, minuteAgo, storeRun, storeWaitingRun, ttlIn } from './support/journal.ts';

describe.each(journalAdapters)('$name', ({ create }) => {
  describe('runs due', () => {
    it('lists live runs whose wake time or lease expiry has passed, earliest first, and no others', async () => {
      const journal = await create();
      const sleepingLate = await storeRun(journal, { status: 'sleeping', wakeAt: new Date(minuteAgo()).toISOString() });
      const diedLonger = await storeRun(journal, { status: 'running', leaseOwner: 'x', leaseExpiresAt: minuteAgo() - 60_000 });
      await storeRun(journal, { status: 'sleeping', wakeAt: new Date(inAMinute()).toISOString() });
      await storeRun(journal, { status: 'running', leaseOwner: 'y', leaseExpiresAt: inAMinute() });
      await storeRun(journal, { status: 'completed', wakeAt: new Date(minuteAgo()).toISOString() });

      // DynamoDB's index is eventually consistent: ask until it has caught up (DynamoDB Local is at once).
      const due = await journal.dueRuns(Date.now());

      expect(due.map((run) => run.runId)).toEqual([diedLonger.runId, sleepingLate.runId]);
    });

    it('counts a resumed run as due when the lease of its attempt expires', async () => {
      const journal = await create();
      const run = await storeRun(journal, { status: 'sleeping', wakeAt: new Date(minuteAgo()).toISOString() });

      await journal.acquireLease(run.runId, 1, 'a', Date.now() + 1_000);

      expect(await journal.dueRuns(Date.now())).toEqual([]);
      expect((await journal.dueRuns(Date.now() + 2_000)).map((r) => r.runId)).toEqual([run.runId]);
    });

    it('replaces a live run item only as it was read: same attempt, same update', async () => {
      const journal = await create();
      const run = await storeRun(journal, { status: 'running', attempt: 2, leaseOwner: 'x', leaseExpiresAt: minuteAgo() });

      expect(await journal.replaceRun({ ...run, attempt: 1 }, { ...run, sweeps: 1 })).toBe(false);
      expect(await journal.replaceRun({ ...run, updatedAt: new Date(minuteAgo()).toISOString() }, { ...run, sweeps: 1 })).toBe(false);
      expect(await journal.replaceRun(run, { ...run, sweeps: 1, sweptProgress: 0 })).toBe(true);
      expect(await journal.getRun(run.runId)).toEqual({ ...run, sweeps: 1, sweptProgress: 0 });

      const ended = await storeRun(journal, { status: 'completed' });
      expect(await journal.replaceRun(ended, { ...ended, status: 'failed' })).toBe(false);
      expect(await journal.getRun(ended.runId)).toEqual(ended);
    });
  });

  describe('keeping a run past its retention', () => {
    it('raises the ttl of every item of the run and of its waiters, and never lowers one', async () => {
      const journal = await create();
      const { run } = await storeWaitingRun(journal, ttlIn(3_600));
      const later = ttlIn(90 * 86_400);

      await journal.keepUntil(run.runId, later);
      await journal.keepUntil(run.runId, ttlIn(7_200));

      expect((await journal.load(run.runId))?.run.ttl).toBe(later);
      // Steps and waiters do not show their ttl: each adapter's own test reads or expires them.
    });
  });
});

/**
 * The journal's contract (sdk/journal/journal.ts), the same specifications for every adapter:
 * runs, fenced writes, leases, listing and reopening. Idempotency keys, event waiters, events and
 * TTL: journal-contract-events.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { LeaseLostError } from '../sdk/core/errors.ts';
import { ulid } from '../sdk/core/ids.ts';
import type { JournalWrite } from '../sdk/journal/journal.ts';
import { inAMinute, journalAdapters, minuteAgo, runRecord, stepRecord, stepWrite, storeRun } from './support/journal.ts';

describe.each(journalAdapters)('$name', ({ create }) => {
  describe('runs', () => {
    it('loads a run with its request and its steps in call order', async () => {
      const journal = await create();
      const steps = [stepRecord(2), stepRecord(0), stepRecord(1, { status: 'failed', output: undefined, error: { name: 'Error', message: 'boom' } })];
      const run = await storeRun(journal, { response: { statusCode: 201, headers: { a: 'b' }, body: 'ok' } }, steps);

      const loaded = await journal.load(run.runId);

      expect(loaded?.run).toEqual(run);
      expect(loaded?.request.body).toBe('{"sku":"A-1"}');
      expect(loaded?.steps).toEqual([steps[1], steps[2], steps[0]]);
      expect(await journal.getRun(run.runId)).toEqual(run);
    });

    it('loads nothing for an unknown run, nor for a run whose request was never written', async () => {
      const journal = await create();
      const run = runRecord();
      await journal.write([{ type: 'run', run }]);

      expect(await journal.load(run.runId)).toBeUndefined();
      expect(await journal.load(ulid())).toBeUndefined();
      expect(await journal.getRun(ulid())).toBeUndefined();
    });

    it('replaces an item written again; a step is the same item only with the same seq and id', async () => {
      const journal = await create();
      const run = await storeRun(journal, {}, [stepRecord(0, { status: 'retrying', attempts: 1 })]);

      await journal.write([{ type: 'run', run: { ...run, status: 'completed' } }, stepWrite(run, stepRecord(0, { attempts: 2 })), stepWrite(run, stepRecord(1, { id: 'step-0' }))]);

      const loaded = await journal.load(run.runId);
      expect(loaded?.run.status).toBe('completed');
      expect(loaded?.steps.map((s) => [s.seq, s.id, s.status, s.attempts])).toEqual([
        [0, 'step-0', 'completed', 2],
        [1, 'step-0', 'completed', 1],
      ]);
    });

    it('stores copies and leaves out undefined fields: what a caller changes later is not stored', async () => {
      const journal = await create();
      const step = stepRecord(0, { endedAt: undefined, error: { name: 'Error', message: 'first' } });
      const run = await storeRun(journal, {}, [step]);
      step.error!.message = 'changed after the write';
      const first = await journal.load(run.runId);
      first!.steps[0]!.error!.message = 'changed after the read';
      first!.run.status = 'failed';

      const again = await journal.load(run.runId);
      expect(again?.steps[0]?.error?.message).toBe('first');
      expect(again?.run.status).toBe('running');
      expect(again?.steps[0]).not.toHaveProperty('endedAt');
    });

    it('refuses a write that names one item twice, fenced or not', async () => {
      const journal = await create();
      const run = await storeRun(journal, { leaseOwner: 'a', leaseExpiresAt: inAMinute() });
      const twice = [stepWrite(run, stepRecord(0)), stepWrite(run, stepRecord(0, { attempts: 2 }))];

      await expect(journal.write(twice)).rejects.toThrow();
      await expect(journal.write(twice, { runId: run.runId, owner: 'a' })).rejects.toThrow();
      expect((await journal.load(run.runId))?.steps).toEqual([]);
    });

    it('refuses an item over DynamoDB’s 400 KB and stores nothing of its batch', async () => {
      const journal = await create();
      const run = await storeRun(journal, { leaseOwner: 'a', leaseExpiresAt: inAMinute() });
      const writes = [stepWrite(run, stepRecord(0)), stepWrite(run, stepRecord(1, { output: JSON.stringify('x'.repeat(420_000)) }))];

      await expect(journal.write(writes)).rejects.toThrow();
      await expect(journal.write(writes, { runId: run.runId, owner: 'a' })).rejects.toThrow();
      expect((await journal.load(run.runId))?.steps).toEqual([]);
    });
  });

  describe('fenced writes', () => {
    it('stores a fenced write while the fence owner holds the lease, and nothing of it otherwise', async () => {
      const journal = await create();
      const run = await storeRun(journal, { leaseOwner: 'a', leaseExpiresAt: inAMinute() });
      const batch = (status: 'completed' | 'failed'): JournalWrite[] => [stepWrite(run, stepRecord(0)), stepWrite(run, stepRecord(1)), { type: 'run', run: { ...run, status } }];

      const lost = await journal.write(batch('failed'), { runId: run.runId, owner: 'b' }).catch((error: unknown) => error);
      expect(lost).toBeInstanceOf(LeaseLostError);
      expect(await journal.load(run.runId)).toMatchObject({ run: { status: 'running' }, steps: [] });

      await journal.write(batch('completed'), { runId: run.runId, owner: 'a' });
      expect(await journal.load(run.runId)).toMatchObject({ run: { status: 'completed' }, steps: [{ seq: 0 }, { seq: 1 }] });
    });

    it('fences steps written without their run against the run’s lease', async () => {
      const journal = await create();
      const run = await storeRun(journal, { leaseOwner: 'a', leaseExpiresAt: inAMinute() });

      await expect(journal.write([stepWrite(run, stepRecord(0))], { runId: run.runId, owner: 'b' })).rejects.toBeInstanceOf(LeaseLostError);
      await journal.write([stepWrite(run, stepRecord(1))], { runId: run.runId, owner: 'a' });

      expect((await journal.load(run.runId))?.steps.map((s) => s.seq)).toEqual([1]);
    });

    it('lets the fence of a first attempt create its run, and refuses it once the run is stored without its lease', async () => {
      const journal = await create();
      const run = runRecord({ leaseOwner: 'a', leaseExpiresAt: inAMinute() });
      const fence = { runId: run.runId, owner: 'a', orNew: true };

      await journal.write([stepWrite(run, stepRecord(0)), { type: 'run', run }], fence);
      const suspended = { ...run, status: 'sleeping' as const, wakeAt: new Date(inAMinute()).toISOString(), leaseOwner: undefined, leaseExpiresAt: undefined };
      await journal.write([{ type: 'run', run: suspended }], fence);

      await expect(journal.write([{ type: 'run', run: { ...run, status: 'running' } }], fence)).rejects.toBeInstanceOf(LeaseLostError);
      expect(await journal.getRun(run.runId)).toEqual(suspended);
    });

    it('refuses a fenced write to a run that is not stored', async () => {
      const journal = await create();
      const run = runRecord({ leaseOwner: 'a' });

      await expect(journal.write([{ type: 'run', run }], { runId: run.runId, owner: 'a' })).rejects.toBeInstanceOf(LeaseLostError);
      expect(await journal.getRun(run.runId)).toBeUndefined();
    });

    it('checks the lease as it stood before the write, so the holder’s write may release it', async () => {
      const journal = await create();
      const run = await storeRun(journal, { leaseOwner: 'a', leaseExpiresAt: inAMinute() });
      const released = { ...run, status: 'sleeping' as const, wakeAt: new Date(inAMinute()).toISOString(), leaseOwner: undefined, leaseExpiresAt: undefined };

      await journal.write([{ type: 'run', run: released }], { runId: run.runId, owner: 'a' });

      expect(await journal.getRun(run.runId)).toEqual(released);
      await expect(journal.write([{ type: 'run', run: released }], { runId: run.runId, owner: 'a' })).rejects.toBeInstanceOf(LeaseLostError);
    });

    it('lets an owner whose lease expired write until another invocation takes the run over', async () => {
      const journal = await create();
      const run = await storeRun(journal, { leaseOwner: 'a', leaseExpiresAt: minuteAgo() });
      const fence = { runId: run.runId, owner: 'a' };

      await journal.write([stepWrite(run, stepRecord(0))], fence);
      expect(await journal.acquireLease(run.runId, 1, 'b', inAMinute())).toMatchObject({ attempt: 2, leaseOwner: 'b' });
      await expect(journal.write([stepWrite(run, stepRecord(1))], fence)).rejects.toBeInstanceOf(LeaseLostError);

      expect((await journal.load(run.runId))?.steps.map((s) => s.seq)).toEqual([0]);
    });

    it('stores a fenced write larger than one transaction whole, the run item included', async () => {
      const journal = await create();
      const run = await storeRun(journal, { leaseOwner: 'a', leaseExpiresAt: inAMinute() });
      const steps = Array.from({ length: 250 }, (_, seq) => stepRecord(seq));

      await journal.write([{ type: 'run', run: { ...run, status: 'completed' } }, ...steps.map((step) => stepWrite(run, step))], { runId: run.runId, owner: 'a' });

      const loaded = await journal.load(run.runId);
      expect(loaded?.run.status).toBe('completed');
      expect(loaded?.steps).toEqual(steps);
    });

    it('stores nothing of a fenced write larger than one transaction by an invocation without the lease', async () => {
      const journal = await create();
      const run = await storeRun(journal, { leaseOwner: 'a', leaseExpiresAt: inAMinute() });
      const steps = Array.from({ length: 250 }, (_, seq) => stepRecord(seq));

      const write = journal.write([{ type: 'run', run: { ...run, status: 'completed' } }, ...steps.map((step) => stepWrite(run, step))], { runId: run.runId, owner: 'b' });

      await expect(write).rejects.toBeInstanceOf(LeaseLostError);
      expect(await journal.load(run.runId)).toMatchObject({ run: { status: 'running' }, steps: [] });
    });
  });

  describe('leases', () => {
    it('takes the lease only for the expected attempt of a live, unheld run', async () => {
      const journal = await create();
      const run = await storeRun(journal, { status: 'sleeping', attempt: 3, wakeAt: new Date().toISOString(), updatedAt: new Date(minuteAgo()).toISOString() });
      const until = inAMinute();

      expect(await journal.acquireLease(run.runId, 2, 'a', until)).toBeUndefined();
      expect(await journal.acquireLease(ulid(), 3, 'a', until)).toBeUndefined();
      const leased = await journal.acquireLease(run.runId, 3, 'a', until);

      expect(leased).toEqual({ ...run, status: 'running', attempt: 4, leaseOwner: 'a', leaseExpiresAt: until, wakeAt: undefined, updatedAt: expect.any(String) });
      expect(leased).not.toHaveProperty('wakeAt');
      expect(Date.parse(leased!.updatedAt)).toBeGreaterThan(Date.parse(run.updatedAt));
      expect(await journal.getRun(run.runId)).toEqual(leased);
    });

    it('takes the lease of running, sleeping and waiting runs, which are running from then on, never of ended ones', async () => {
      const journal = await create();
      for (const status of ['running', 'sleeping', 'waiting'] as const) {
        const run = await storeRun(journal, { status });
        expect(await journal.acquireLease(run.runId, 1, 'a', inAMinute()), status).toMatchObject({ attempt: 2, status: 'running' });
      }
      for (const status of ['completed', 'failed'] as const) {
        const run = await storeRun(journal, { status });
        expect(await journal.acquireLease(run.runId, 1, 'a', inAMinute()), status).toBeUndefined();
        expect(await journal.getRun(run.runId), status).toEqual(run);
      }
    });

    it('refuses a held lease until it expires, then lets another invocation take the run over', async () => {
      const journal = await create();
      const held = await storeRun(journal, { leaseOwner: 'a', leaseExpiresAt: inAMinute() });
      const expired = await storeRun(journal, { leaseOwner: 'a', leaseExpiresAt: minuteAgo() });

      expect(await journal.acquireLease(held.runId, 1, 'b', inAMinute())).toBeUndefined();
      expect(await journal.getRun(held.runId)).toEqual(held);
      expect(await journal.acquireLease(expired.runId, 1, 'b', inAMinute())).toMatchObject({ attempt: 2, leaseOwner: 'b' });
    });

    it('takes the lease for a named function only of that function’s runs', async () => {
      const journal = await create();
      const run = await storeRun(journal, { functionName: 'payments' });

      expect(await journal.acquireLease(run.runId, 1, 'a', inAMinute(), 'reports')).toBeUndefined();
      expect(await journal.getRun(run.runId)).toEqual(run);
      expect(await journal.acquireLease(run.runId, 1, 'a', inAMinute(), 'payments')).toMatchObject({ attempt: 2, leaseOwner: 'a' });
    });

    it('gives the lease of one attempt to exactly one of concurrent takers', async () => {
      const journal = await create();
      const run = await storeRun(journal);

      const results = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((owner) => journal.acquireLease(run.runId, 1, owner, inAMinute())));

      const winners = results.filter((result) => result !== undefined);
      expect(winners).toHaveLength(1);
      expect(await journal.getRun(run.runId)).toMatchObject({ attempt: 2, leaseOwner: winners[0]!.leaseOwner });
    });
  });

  describe('listing and reopening runs', () => {
    it('lists runs newest first without their responses, by status and endpoint, up to the limit', async () => {
      const journal = await create();
      const response = { statusCode: 200, body: 'ok' };
      const runs = [];
      for (const [i, status] of (['completed', 'failed', 'running', 'completed'] as const).entries()) {
        runs.push(await storeRun(journal, { runId: ulid(Date.now() - 10_000 + i), status, response, endpoint: i === 3 ? 'GET /quote' : 'POST /orders' }));
      }
      const ids = (list: { runId: string }[]) => list.map((run) => run.runId);

      const all = await journal.listRuns();
      expect(ids(all)).toEqual(ids([...runs].reverse()));
      expect(all.map((run) => run.response)).toEqual([undefined, undefined, undefined, undefined]);
      expect(all[0]).toEqual({ ...runs[3], response: undefined });
      expect(ids(await journal.listRuns({ status: 'completed' }))).toEqual(ids([runs[3]!, runs[0]!]));
      expect(ids(await journal.listRuns({ status: 'completed', endpoint: 'POST /orders' }))).toEqual(ids([runs[0]!]));
      expect(ids(await journal.listRuns({ limit: 2 }))).toEqual(ids([runs[3]!, runs[2]!]));
    });

    it('lists 100 runs unless told otherwise', async () => {
      const journal = await create();
      await journal.write(Array.from({ length: 101 }, (): JournalWrite => ({ type: 'run', run: runRecord() })));

      expect(await journal.listRuns()).toHaveLength(100);
      expect(await journal.listRuns({ limit: 1_000 })).toHaveLength(101);
    });

    it('reopens a failed run, marked replayed: its failed steps get fresh retries, the rest stay memoized', async () => {
      const journal = await create();
      const done = stepRecord(0);
      const failed = stepRecord(1, { status: 'failed', attempts: 5, output: undefined, error: { name: 'Error', message: 'boom' } });
      const run = await storeRun(journal, { status: 'failed', attempt: 4, error: failed.error, response: { statusCode: 500 } }, [done, failed]);

      const reopened = await journal.reopen(run.runId);

      const { error: _error, response: _response, ...kept } = run;
      expect(reopened).toEqual({ ...kept, status: 'running', wakeAt: expect.any(String), updatedAt: reopened?.wakeAt, replayedAt: reopened?.wakeAt });
      const loaded = await journal.load(run.runId);
      expect(loaded?.run).toEqual(reopened);
      expect(loaded?.run).not.toHaveProperty('error');
      const { endedAt: _endedAt, ...unended } = failed;
      expect(loaded?.steps).toEqual([done, { ...unended, status: 'retrying', attempts: 0, retryAt: reopened?.wakeAt }]);
    });

    it('reopens only failed runs', async () => {
      const journal = await create();
      for (const status of ['running', 'completed'] as const) {
        const run = await storeRun(journal, { status }, [stepRecord(0, { status: 'failed' })]);
        expect(await journal.reopen(run.runId), status).toBeUndefined();
        expect((await journal.load(run.runId))?.steps[0]?.status, status).toBe('failed');
      }
      expect(await journal.reopen(ulid())).toBeUndefined();
    });

    it('reopens every failed step of a run, however many', async () => {
      const journal = await create();
      const failed = Array.from({ length: 150 }, (_, seq) => stepRecord(seq, { status: 'failed' }));
      const run = await storeRun(journal, { status: 'failed' }, failed);

      await journal.reopen(run.runId);

      expect(new Set((await journal.load(run.runId))?.steps.map((s) => s.status))).toEqual(new Set(['retrying']));
    });

    it('reopens a run once however many reopen it at the same time', async () => {
      const journal = await create();
      const run = await storeRun(journal, { status: 'failed' });

      const results = await Promise.all([1, 2, 3].map(() => journal.reopen(run.runId)));

      expect(results.filter((result) => result !== undefined)).toHaveLength(1);
    });
  });
});

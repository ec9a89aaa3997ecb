/**
 * The journal contract for streaming, run on every adapter (DynamoDB Local and the memory journal):
 * chunks kept on their step's item, the tail that results streams follow, and the order a reader
 * can rely on.
 */
import { describe, expect, it } from 'vitest';
import type { TailEvent } from '../sdk/core/records.ts';
import type { JournalWrite } from '../sdk/journal/journal.ts';
import { journalAdapters, stepRecord, stepWrite, storeRun } from './support/journal.ts';

const chunk = (step: string, index: number, data: unknown, attempt = 2): TailEvent => ({ type: 'chunk', step, seq: 1, attempt, try: 1, index, data });
const tailWrite = (runId: string, ttl: number, attempt: number, n: number, events: TailEvent[]): JournalWrite => ({ type: 'tail', runId, attempt, n, events, ttl });

describe.each(journalAdapters)('$name', ({ create }) => {
  it('keeps a step’s chunks, commit and rolled-back chunks on its item, as written', async () => {
    const journal = await create();
    const step = stepRecord(0, { chunks: JSON.stringify(['a', { b: [1, 2] }]), commit: 1, chunksAttempt: 1, rolledBack: JSON.stringify([{ attempt: 1, try: 1, chunks: ['x'] }]) });
    const run = await storeRun(journal, {}, [step]);

    expect((await journal.load(run.runId))?.steps).toEqual([step]);
    expect((await journal.progress(run.runId))?.steps).toEqual([step]);
  });

  it('gives a run’s steps and its tail from the start, then only tail items written since', async () => {
    const journal = await create();
    const run = await storeRun(journal, { attempt: 2 }, [stepRecord(0)]);
    await journal.write([tailWrite(run.runId, run.ttl, 2, 1, [chunk('s', 0, 'one'), chunk('s', 1, { two: 2 })])]);
    await journal.write([tailWrite(run.runId, run.ttl, 2, 2, [{ type: 'rollback', step: 's', seq: 1, attempt: 2, try: 1 }])]);

    const first = (await journal.progress(run.runId))!;
    expect(first.run).toEqual(run);
    expect(first.steps).toEqual([stepRecord(0, { startedAt: expect.any(String), endedAt: expect.any(String) })]);
    expect(first.tail).toEqual([chunk('s', 0, 'one'), chunk('s', 1, { two: 2 }), { type: 'rollback', step: 's', seq: 1, attempt: 2, try: 1 }]);

    expect((await journal.progress(run.runId, first.since))!.tail).toEqual([]);
    // A later attempt's items sort after an earlier attempt's, whatever their count.
    await journal.write([tailWrite(run.runId, run.ttl, 3, 1, [chunk('s', 0, 'three', 3)]), stepWrite(run, stepRecord(1))]);
    const next = (await journal.progress(run.runId, first.since))!;
    expect(next.tail).toEqual([chunk('s', 0, 'three', 3)]);
    expect(next.steps.map((s) => s.id)).toEqual(['step-0', 'step-1']);
    expect((await journal.progress(run.runId, next.since))!.tail).toEqual([]);
  });

  it('leaves the tail out of what a resume loads', async () => {
    const journal = await create();
    const run = await storeRun(journal, {}, [stepRecord(0)]);
    await journal.write([tailWrite(run.runId, run.ttl, 1, 1, [chunk('s', 0, 'x', 1)])]);

    const loaded = (await journal.load(run.runId))!;
    expect(loaded.steps.map((s) => s.id)).toEqual(['step-0']);
  });

  it('says nothing of a run it does not hold', async () => {
    const journal = await create();
    expect(await journal.progress('01JZZZZZZZZZZZZZZZZZZZZZZZ')).toBeUndefined();
  });

  it('stores the run item of an unfenced write after its other items, even when they take several batches', async () => {
    const journal = await create();
    const run = await storeRun(journal);
    const steps = Array.from({ length: 60 }, (_, seq) => stepRecord(seq, { commit: seq + 1, chunks: '[]' }));

    const written = journal.write([{ type: 'run', run: { ...run, status: 'completed' } }, ...steps.map((step) => stepWrite(run, step))]);
    // Whoever reads while the write goes on: a completed run comes with all of its steps.
    let seenCompleted = false;
    while (!seenCompleted) {
      const progress = (await journal.progress(run.runId))!;
      seenCompleted = progress.run.status === 'completed';
      if (seenCompleted) expect(progress.steps).toHaveLength(60);
    }
    await written;
  });
});

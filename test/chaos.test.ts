import { describe, expect, it } from 'vitest';
import { runChaos } from './chaos/run.ts';

describe('the chaos run (npm run chaos), small', () => {
  it('ends every run, runs no journaled step again and gives every client its final answer, through step failures, worker kills, a dev server restart, journal and timer faults', async () => {
    const report = await runChaos({ runs: 60, rate: 5, seed: 7, workerKills: 2, serverRestarts: 1, graceMs: 45_000, log: () => undefined });
    const { samples, ...figures } = report;
    const why = JSON.stringify(samples, null, 2);

    // The faults happened, so the figures below mean something.
    expect(figures).toMatchObject({ runs: 60, workerKills: 2, serverRestarts: 1 });
    expect(figures.injectedStepFailures).toBeGreaterThan(0);
    expect(figures.proxy.lost + figures.proxy.dropped + figures.proxy.stalled + figures.proxy.errors).toBeGreaterThan(0);
    expect(figures.timerFaults.late + figures.timerFaults.duplicated).toBeGreaterThan(0);
    expect(figures.events.sent).toBeGreaterThan(0);

    expect({ lost: figures.lost, lostBy: figures.lostBy }, why).toEqual({ lost: 0, lostBy: { leaseHeld: 0, overdue: 0, notDue: 0, unjournaled: 0, unreached: 0 } });
    expect(figures.stepsRepeatedAfterJournal).toBe(0);
    expect(figures.clientsWithFinalResponse, why).toBe(figures.runs);
    expect(figures.wrongAnswers, why).toBe(0);
    expect(figures.journaledWithoutLedger).toBe(0);
    expect(figures.failedUnexpectedly).toBe(0);
    expect(figures.completed + figures.failedAsDesigned).toBe(figures.runs);
  }, 240_000);
});

import { log } from '../core/log.ts';
import type { Attempt } from './attempt.ts';

/** `step.sleep` / `step.sleepUntil`: waits until `wakeAt` (epoch ms), inline when short, else the run suspends and a timer resumes it. */
export function sleep(attempt: Attempt, id: string, wakeAt: number): Promise<void> {
  return attempt.enter(id, async ({ stepId, seq, concurrent, record }) => {
    if (record?.status === 'completed') return;
    // The first attempt fixed the wake time; later attempts keep it.
    const due = record?.wakeAt ? Date.parse(record.wakeAt) : wakeAt;
    const base = {
      id: stepId,
      seq: record?.seq ?? seq,
      startedAt: record?.startedAt ?? attempt.isoNow(),
      wakeAt: new Date(due).toISOString(),
      ...(concurrent || record?.concurrent ? { concurrent: true } : {}),
    };
    const began = attempt.clock.now();
    await attempt.waitOrSuspend(stepId, due, 'sleep', { suspending: () => attempt.journalStep({ ...base, status: 'sleeping', attempts: 0 }) });
    attempt.journalStep({ ...base, status: 'completed', attempts: 1, endedAt: attempt.isoNow() });
    log('debug', 'step completed', { endpoint: attempt.endpoint, runId: attempt.runId, stepId, attempts: 1, durationMs: Math.max(0, due - began) });
  });
}

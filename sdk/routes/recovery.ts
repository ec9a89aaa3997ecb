import { resumeEvent, type ResumeReason } from '../core/resume.ts';
import { TERMINAL_STATUSES, type RunRecord } from '../core/records.ts';
import type { Journal } from '../journal/journal.ts';
import type { Timer } from '../timers/timer.ts';

/**
 * Re-arms a resume for every live run: a suspended run at its wake time, a run whose attempt was
 * interrupted (its process died) when its lease expires. Resumes are idempotent (the endpoint takes
 * a run only for the attempt that suspended), so arming one for a run that already has a timer is
 * harmless. Returns the runs it re-armed.
 */
export async function recoverRuns(journal: Pick<Journal, 'listRuns'>, timer: Timer, now = Date.now()): Promise<RunRecord[]> {
  const runs = (await journal.listRuns({ limit: 100_000 })).filter((run) => !TERMINAL_STATUSES.includes(run.status));
  for (const run of runs) {
    const at = run.wakeAt ? new Date(run.wakeAt) : new Date(run.leaseExpiresAt ?? now);
    await timer.schedule(resumeEvent(run, wakeReason(run)), at);
  }
  return runs;
}

function wakeReason(run: RunRecord): ResumeReason {
  if (!run.wakeAt) return 'watchdog';
  return run.status === 'sleeping' ? 'sleep' : run.status === 'waiting' ? 'timeout' : 'retry';
}

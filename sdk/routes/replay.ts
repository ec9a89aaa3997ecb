import type { Journal } from '../journal/journal.ts';
import type { RunRecord } from '../core/records.ts';
import { resumeEvent } from '../core/resume.ts';
import { type Timer } from '../timers/timer.ts';

/**
 * Runs a failed run again from where it failed: steps that succeeded stay memoized, failed steps
 * get a fresh set of retries. Undefined when the run is not failed (or another replay won).
 */
export async function replayRun(journal: Journal, timer: Timer, runId: string): Promise<RunRecord | undefined> {
  const run = await journal.reopen(runId);
  if (!run) return undefined;
  const at = new Date();
  await timer.schedule(resumeEvent(run, 'replay', at), at);
  return run;
}

/** What a suspending attempt does around storing its suspension: keep the run past a long wait, then arm what wakes it. */
import { log } from '../core/log.ts';
import type { EventWaiter, StepRecord } from '../core/records.ts';
import { resumeEvent, type ResumeReason } from '../core/resume.ts';
import type { Attempt } from '../engine/attempt.ts';
import type { SlotWait } from '../engine/flow.ts';
import type { ResolvedOptions } from './options.ts';
import { runPrefix } from '../payloads/offload.ts';

/**
 * A run is kept `retention` past its wake time: a wait longer than the retention (a 45-day
 * sleep, 30 days kept) raises the ttl of every item already stored, and keeps its payloads in the
 * blob store as long, before the run suspends.
 */
export async function keepPast(options: ResolvedOptions, attempt: Attempt, wakeAt: number): Promise<void> {
  const ttl = Math.ceil((wakeAt + options.retention) / 1_000);
  if (ttl <= attempt.ttl) return;
  attempt.keepUntil(ttl);
  // What is queued goes out first (with the new ttl), so that every item stored before is raised.
  try {
    await attempt.flush();
    await Promise.all([options.journal().keepUntil(attempt.runId, ttl), options.blobs()?.keepUntil?.(runPrefix(attempt.runId), ttl)]);
  } catch (error) {
    // The suspension's own write below fails the same way and answers for it.
    log('error', 'keeping the run past its retention failed', { endpoint: attempt.endpoint, runId: attempt.runId, error: (error as Error).message });
  }
}

/** Arms what wakes the run once its suspension is stored: its timer, its place in flow-control queues, a resume for an event that came meanwhile. */
export async function armResume(options: ResolvedOptions, attempt: Attempt, reason: ResumeReason, wake: Date, waitingOn: readonly EventWaiter[], queuedOn: readonly SlotWait[]): Promise<void> {
  const timer = options.timer();
  // A run queued for a slot is woken by the holder that hands it one; its wake time is for the
  // sweep, should that wake-up be lost. Queued only now that the run is stored without its lease,
  // so the wake-up's resume can take it.
  if (reason !== 'slot') await timer.schedule(resumeEvent(attempt, reason, wake), wake);
  for (const { entry, limit } of queuedOn) {
    try {
      // Not queued: a slot freed meanwhile, so the run takes it now.
      if (!(await options.journal().enqueue(entry, limit))) await timer.schedule(resumeEvent(attempt, 'slot'), new Date(attempt.clock.now()));
    } catch (error) {
      log('error', 'queueing the run failed; the sweep resumes it at its wake time', { endpoint: attempt.endpoint, runId: attempt.runId, error: (error as Error).message });
    }
  }
  // An event that resolved one of this attempt's waits while it still held the lease could not
  // resume the run (the lease refused it); now that the lease is released, resume it here.
  if (waitingOn.length === 0) return;
  const loaded = await options.journal().load(attempt.runId);
  const completed = (step: StepRecord | undefined) => step?.status === 'completed';
  if (waitingOn.some((waiter) => completed(loaded?.steps.find((step) => step.id === waiter.stepId)))) {
    await timer.schedule(resumeEvent(attempt, 'event'), new Date(attempt.clock.now()));
  }
}

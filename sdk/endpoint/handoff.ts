/**
 * The hand-off at the gateway's deadline: a run still working suspends and continues in a new
 * invocation; a handler that cannot unwind gets a watchdog resume for when its lease expires.
 */
import { log } from '../core/log.ts';
import { resumeEvent } from '../core/resume.ts';
import type { Attempt } from '../engine/attempt.ts';
import type { Invocation } from './lifecycle.ts';
import type { ResolvedOptions } from './options.ts';

// After a hand-off, how long the handler gets to unwind before a watchdog timer is armed for it.
const UNWIND_GRACE_MS = 2_000;

/** At the hand-off time, a run still working suspends and continues in a new invocation. */
export function armHandoff(options: ResolvedOptions, invocation: Invocation): Invocation {
  const { attempt } = invocation;
  const { handoffAt } = attempt.init;
  if (!Number.isFinite(handoffAt)) return invocation;
  invocation.cancelHandoff = attempt.clock.setTimer(() => {
    if (attempt.closed || !attempt.handOff()) return;
    log('info', 'handing off to a new invocation', { endpoint: attempt.endpoint, runId: attempt.runId, attempt: attempt.attempt });
    // If the handler is stuck outside a step it cannot unwind, and the Lambda may be killed at its
    // timeout: a watchdog resume then takes the run over once this attempt's lease has expired.
    attempt.clock.setTimer(() => {
      if (attempt.closed) return;
      log('warn', 'the handler did not unwind at the hand-off (is it awaiting work outside a step?); arming a watchdog', { endpoint: attempt.endpoint, runId: attempt.runId });
      void armWatchdog(options, attempt);
    }, UNWIND_GRACE_MS);
  }, Math.max(0, handoffAt - attempt.clock.now()));
  return invocation;
}

/** A resume for when this attempt's lease has expired, in case the attempt never ends properly. */
export async function armWatchdog(options: ResolvedOptions, attempt: Attempt): Promise<void> {
  try {
    await options.timer().schedule(resumeEvent(attempt, 'watchdog'), new Date(attempt.leaseExpiresAt + 1_000));
  } catch (error) {
    log('error', 'arming the watchdog failed', { endpoint: attempt.endpoint, runId: attempt.runId, error: (error as Error).message });
  }
}

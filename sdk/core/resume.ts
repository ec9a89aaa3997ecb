/**
 * The event a timer delivers to the endpoint's Lambda to continue a run. Timers and async invokes
 * deliver at least once: the endpoint accepts it only if the run's latest attempt is still
 * `attempt` and nobody holds the run, so duplicates are dropped.
 */
export interface ResumeEvent {
  type: 'durable-endpoints/resume';
  endpoint: string;
  /** The Lambda function that runs the endpoint, for timers that deliver to several functions. */
  functionName?: string;
  runId: string;
  /** The attempt that suspended; the resume starts attempt + 1. */
  attempt: number;
  reason: ResumeReason;
  /** The time the resume was armed for (ISO). Steps due by then run, even if it is delivered early. */
  at?: string;
}

/**
 * retry, sleep, timeout (of a waitForEvent), event (one arrived), handoff, watchdog (an attempt did
 * not unwind at its hand-off), replay, sweep (the sweep found the run overdue), abandon (the sweep
 * gave up on a run that makes no progress: the endpoint fails it), slot (a concurrency slot was
 * handed to the queued run), throttle (the throttle's turn of a queued run came).
 */
export type ResumeReason = 'retry' | 'sleep' | 'timeout' | 'event' | 'handoff' | 'watchdog' | 'replay' | 'sweep' | 'abandon' | 'slot' | 'throttle';

export const RESUME_EVENT_TYPE = 'durable-endpoints/resume';

export function isResumeEvent(event: unknown): event is ResumeEvent {
  const e = event as Partial<ResumeEvent> | null;
  return (
    typeof e === 'object' &&
    e !== null &&
    e.type === RESUME_EVENT_TYPE &&
    typeof e.runId === 'string' &&
    typeof e.attempt === 'number' &&
    typeof e.endpoint === 'string'
  );
}

/** What a resume names of its run: a run record, or an attempt in progress. */
export interface ResumeTarget {
  runId: string;
  endpoint: string;
  functionName?: string;
  attempt: number;
}

/** The one way to build a resume event: for `target`'s current attempt, armed for `at` when given. */
export function resumeEvent(target: ResumeTarget, reason: ResumeReason, at?: Date): ResumeEvent {
  const { runId, endpoint, functionName, attempt } = target;
  return { type: RESUME_EVENT_TYPE, endpoint, functionName, runId, attempt, reason, ...(at ? { at: at.toISOString() } : {}) };
}

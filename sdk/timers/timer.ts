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

/** retry, sleep, timeout (of a waitForEvent), event (one arrived), handoff, watchdog (an attempt died), replay. */
export type ResumeReason = 'retry' | 'sleep' | 'timeout' | 'event' | 'handoff' | 'watchdog' | 'replay';

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

/** Delivers a resume event at (or soon after) a time. Each AWS service sits behind one adapter. */
export interface Timer {
  schedule(event: ResumeEvent, at: Date): Promise<void>;
}

import type { LeaseLostError } from '../core/errors.ts';
import type { EventWaiter, LimitedBy } from '../core/records.ts';
import type { ResumeReason } from '../core/resume.ts';
import type { SlotWait } from './flow.ts';

/** How the handler ended: what `close` is given. */
export type HandlerResult = { ok: true; value: unknown } | { ok: false; error: unknown };

/** What an attempt came to, decided once by `close`. */
export type Outcome =
  /** The handler answered and the run is journaled: store `value` as the response. */
  | { kind: 'completed'; value: unknown }
  /** The run fails for good with `error`. */
  | { kind: 'failed'; error: unknown }
  /**
   * The run continues later: at `wakeAt` for `reason`; `waitingOn` are the event waits it suspended
   * on, `queuedOn` the concurrency queues it enters once stored, `limitedBy` the limit that queues it.
   */
  | { kind: 'suspended'; wakeAt: number; reason: ResumeReason; waitingOn: readonly EventWaiter[]; queuedOn: readonly SlotWait[]; limitedBy?: LimitedBy }
  /** Nothing was journaled (no step ran): the handler's own result, as without durable(). */
  | { kind: 'not-a-run'; result: HandlerResult }
  /** Another invocation holds the run: this one stops without writing. */
  | { kind: 'lease-lost'; error: LeaseLostError };

/**
 * Unwinds the handler when a run must continue later. It is thrown from `step.run`; if a handler
 * catches it, the run still suspends (the decision lives in the attempt, not in the exception).
 */
export class SuspendSignal extends Error {
  constructor(runId: string, stepId: string) {
    super(`Run ${runId} is suspending at step '${stepId}' to continue later; rethrow this if you catch errors around steps.`);
    this.name = 'SuspendSignal';
  }
}

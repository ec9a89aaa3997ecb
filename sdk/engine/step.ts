import { toMs, type Duration } from '../core/duration.ts';
import type { StartedExecution } from '../workflows/step-functions.ts';
import { outsideError, type Attempt } from './attempt.ts';
import { waitForEvent, type DurableEvent, type WaitForEventOptions } from './events.ts';
import { startExecution, waitForExecution, type ExecutionResult, type StartExecutionOptions, type WaitForExecutionOptions } from './executions.ts';
import type { StepOptions } from './retries.ts';
import { sleep } from './sleep.ts';
import { runStorage } from './storage.ts';

function currentRun(stepId: string): Attempt {
  const run = runStorage.getStore()?.run;
  if (!run || run.closed) throw outsideError(stepId);
  return run;
}

/** The steps of the durable run the current handler invocation belongs to. */
export const step = {
  /**
   * Runs `fn` once per run: its result is journaled, and later attempts of the run return the
   * journaled result without calling `fn`. Failures are retried (default 4 times, backoff from 1 s);
   * after the last retry, or on a `NonRetriableError`, the error is thrown here.
   */
  run<T>(id: string, fn: () => T | Promise<T>, options?: StepOptions): Promise<Awaited<T>> {
    return currentRun(id).run(id, fn, options);
  },

  /**
   * Waits `duration`. Short sleeps (within `inlineDelayMax`) wait inline; longer ones suspend the
   * run (the caller gets the 303) and a timer resumes it. The wake time is fixed by the first attempt.
   */
  sleep(id: string, duration: Duration): Promise<void> {
    const attempt = currentRun(id);
    return sleep(attempt, id, attempt.clock.now() + toMs(duration, `step.sleep('${id}') duration`));
  },

  /** Waits until `date`, as `sleep` does. A date in the past returns at once. */
  sleepUntil(id: string, date: Date | string | number): Promise<void> {
    const at = new Date(date).getTime();
    if (Number.isNaN(at)) throw new TypeError(`step.sleepUntil('${id}') needs a valid date, got ${JSON.stringify(date)}.`);
    return sleep(currentRun(id), id, at);
  },

  /**
   * Suspends the run until `POST /events` delivers an event named `event` whose fields match
   * (`match: { 'data.orderId': orderId }`), resolving to it, or to null after `timeout`. An event
   * that arrived up to 5 minutes before the wait began also counts.
   */
  waitForEvent<T = unknown>(id: string, options: WaitForEventOptions): Promise<DurableEvent<T> | null> {
    return waitForEvent<T>(currentRun(id), id, options);
  },

  /**
   * Starts an execution of a Standard Step Functions workflow, once per run: the execution's name
   * is derived from the run id and the step id, so a retry finds the execution already started.
   * Journaled like `step.run`; resolves to `{ executionArn, startDate }`.
   */
  startExecution(id: string, options: StartExecutionOptions): Promise<StartedExecution> {
    return startExecution(currentRun(id), id, options);
  },

  /**
   * Suspends the run until the execution ends (EventBridge reports it to the events route),
   * resolving to `{ status, output, error, cause }`, or to null after `timeout`. An end reported up to
   * 5 minutes before the wait began also counts, so call it soon after `startExecution`.
   */
  waitForExecution<T = unknown>(id: string, executionArn: string, options: WaitForExecutionOptions): Promise<ExecutionResult<T> | null> {
    return waitForExecution<T>(currentRun(id), id, executionArn, options);
  },
};

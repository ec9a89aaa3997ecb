import type { Duration } from '../core/duration.ts';
import { EXECUTION_EVENT, executionName, type ExecutionEventData, type ExecutionStatus, type StartedExecution } from '../workflows/step-functions.ts';
import type { Attempt } from './attempt.ts';
import { waitForEvent } from './events.ts';

export interface StartExecutionOptions {
  /** A Standard workflow's state machine (Express workflows send no EventBridge events to wait for). */
  stateMachineArn: string;
  /** The execution's input, serialized as JSON. Default `{}`. */
  input?: unknown;
}

export interface WaitForExecutionOptions {
  /** How long to wait before resolving to null. */
  timeout: Duration;
}

/** What `step.waitForExecution` resolves to when the execution has ended. */
export interface ExecutionResult<T = unknown> {
  status: ExecutionStatus;
  /** The execution's output, parsed; null unless it succeeded, or when it was too large for EventBridge (`outputIncluded`). */
  output: T | null;
  outputIncluded: boolean;
  /** The error name and cause of a failed, timed-out or aborted execution. */
  error: string | null;
  cause: string | null;
}

/**
 * `step.startExecution`: starts a Step Functions execution once per step. Its name comes from the
 * run and the step, so a retried or re-run step finds the execution an earlier attempt started
 * instead of starting another.
 */
export function startExecution(attempt: Attempt, id: string, options: StartExecutionOptions): Promise<StartedExecution> {
  if (typeof options?.stateMachineArn !== 'string' || options.stateMachineArn.length === 0) {
    throw new TypeError(`${attempt.describe()}: step.startExecution('${id}', { stateMachineArn, input }) needs a state machine ARN.`);
  }
  const { stateMachineArn } = options;
  const input = JSON.stringify(options.input ?? {});
  // Named after the step id as claimed (with its :1, :2 suffix), so repeated ids start distinct executions.
  return attempt.enter(id, (claim) =>
    attempt.memoized(claim, () => attempt.init.stepFunctions().startExecution({ stateMachineArn, name: executionName(attempt.runId, claim.stepId), input }), undefined),
  );
}

/**
 * `step.waitForExecution`: waits for the execution to end, as `waitForEvent` on the event the
 * events route makes of its EventBridge status change, matched by execution ARN.
 */
export async function waitForExecution<T = unknown>(attempt: Attempt, id: string, executionArn: string, options: WaitForExecutionOptions): Promise<ExecutionResult<T> | null> {
  if (typeof executionArn !== 'string' || !executionArn.includes(':execution:')) {
    throw new TypeError(`${attempt.describe()}: step.waitForExecution('${id}', executionArn, { timeout }) needs an execution ARN, got ${JSON.stringify(executionArn)}.`);
  }
  const event = await waitForEvent<ExecutionEventData>(attempt, id, { event: EXECUTION_EVENT, match: { 'data.executionArn': executionArn }, timeout: options?.timeout });
  if (!event) return null;
  const { status, output, outputIncluded = true, error = null, cause = null } = event.data;
  return { status, output: (output ?? null) as T | null, outputIncluded, error, cause };
}

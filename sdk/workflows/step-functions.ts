/**
 * Step Functions workflows that runs start and wait for: the port `step.startExecution` calls, its
 * AWS adapter, and how an EventBridge "Execution Status Change" becomes the durable event
 * `step.waitForExecution` waits for.
 */
import { createHash } from 'node:crypto';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { NonRetriableError } from '../core/errors.ts';

export interface StartExecutionRequest {
  stateMachineArn: string;
  /** Unique per state machine: Standard workflows refuse a second execution of that name for 90 days. */
  name: string;
  /** JSON text. */
  input: string;
}

/** What `step.startExecution` resolves to (journaled as the step's result). */
export interface StartedExecution {
  executionArn: string;
  /** Absent when an earlier attempt of the step had already started the execution and its answer was lost. */
  startDate?: Date;
}

/** Starts workflow executions. `AwsStepFunctions` in production; tests and the dev server may pass their own. */
export interface StepFunctions {
  startExecution(request: StartExecutionRequest): Promise<StartedExecution>;
}

export interface AwsStepFunctionsOptions {
  /** Default: a client for the Lambda's region and credentials, created on first use. */
  client?: SFNClient;
}

/** Execution names: 1-80 characters of `[0-9A-Za-z_-]` (what is valid everywhere, CloudWatch metrics included). */
const EXECUTION_NAME_MAX = 80;

// The request was wrong and will be wrong on every retry.
const NOT_RETRIABLE = new Set(['InvalidArn', 'InvalidName', 'InvalidExecutionInput', 'StateMachineDoesNotExist', 'StateMachineDeleting', 'ValidationException']);

/**
 * `StartExecution` through `@aws-sdk/client-sfn`, loaded on first use. A name already taken
 * (`ExecutionAlreadyExists`) means an earlier attempt of the same step started it: its ARN is
 * derived from the state machine and the name, so the step completes without a second execution.
 */
export class AwsStepFunctions implements StepFunctions {
  private client: SFNClient | undefined;

  constructor(options: AwsStepFunctionsOptions = {}) {
    this.client = options.client;
  }

  async startExecution(request: StartExecutionRequest): Promise<StartedExecution> {
    const { SFNClient, StartExecutionCommand } = await import('@aws-sdk/client-sfn');
    this.client ??= new SFNClient({});
    try {
      const { executionArn, startDate } = await this.client.send(new StartExecutionCommand(request));
      return { executionArn: executionArn!, startDate };
    } catch (error) {
      const name = (error as Error)?.name;
      if (name === 'ExecutionAlreadyExists') return { executionArn: executionArnFor(request.stateMachineArn, request.name) };
      const message = `Step Functions StartExecution of ${request.name} on ${request.stateMachineArn} failed: ${name}: ${(error as Error)?.message}`;
      if (NOT_RETRIABLE.has(name)) throw new NonRetriableError(`${message}. Check the state machine ARN and the input.`, { cause: error });
      throw new Error(`${message}. Check that the endpoint may call states:StartExecution on it (addEndpoint's stateMachines).`, { cause: error });
    }
  }
}

/**
 * The execution name of a run's step: `<runId>-<readable step id>-<hash of the step id>`, the same on
 * every attempt, so a retried step cannot start a second execution of a Standard workflow. The hash
 * keeps names of step ids that differ only in characters outside `[0-9A-Za-z_-]`, or past the length
 * limit, apart.
 */
export function executionName(runId: string, stepId: string): string {
  const hash = createHash('sha256').update(stepId).digest('hex').slice(0, 10);
  const room = EXECUTION_NAME_MAX - runId.length - hash.length - 2;
  const readable = stepId.replace(/[^0-9A-Za-z_-]/g, '_').slice(0, Math.max(0, room));
  return `${runId}-${readable}-${hash}`.slice(-EXECUTION_NAME_MAX);
}

/**
 * `arn:<partition>:states:<region>:<account>:execution:<state machine name>:<execution name>`, from the
 * state machine's ARN (`...:stateMachine:<name>`, or a version or alias ARN with one more part).
 */
export function executionArnFor(stateMachineArn: string, name: string): string {
  const parts = stateMachineArn.split(':');
  if (parts.length < 7 || parts[2] !== 'states' || parts[5] !== 'stateMachine') {
    throw new NonRetriableError(`${JSON.stringify(stateMachineArn)} is not a Step Functions state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>).`);
  }
  return [...parts.slice(0, 5), 'execution', parts[6], name].join(':');
}

/** The durable event a finished execution becomes: what `step.waitForExecution` waits for. */
export const EXECUTION_EVENT = 'durable-endpoints/execution';

export type ExecutionStatus = 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
export const FINAL_STATUSES: readonly ExecutionStatus[] = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'];

/** The data of an `durable-endpoints/execution` event. */
export interface ExecutionEventData {
  executionArn: string;
  stateMachineArn: string;
  status: ExecutionStatus;
  /** The execution's output, parsed; null when it failed, or when it was too large for the event (see `outputIncluded`). */
  output: unknown;
  /** False when the output (over 248 KB) was left out of the EventBridge event; read it with DescribeExecution. */
  outputIncluded: boolean;
  error: string | null;
  cause: string | null;
}

/** The part of EventBridge's "Step Functions Execution Status Change" event read here. */
export interface ExecutionStatusChange {
  id: string;
  source: 'aws.states';
  'detail-type': 'Step Functions Execution Status Change';
  time?: string;
  detail: {
    executionArn: string;
    stateMachineArn: string;
    status: string;
    output?: string | null;
    outputDetails?: { included?: boolean };
    error?: string | null;
    cause?: string | null;
  };
}

export function isExecutionStatusChange(event: unknown): event is ExecutionStatusChange {
  const e = event as Partial<ExecutionStatusChange> | null;
  return (
    typeof e === 'object' &&
    e !== null &&
    e.source === 'aws.states' &&
    e['detail-type'] === 'Step Functions Execution Status Change' &&
    typeof e.id === 'string' &&
    typeof e.detail?.executionArn === 'string'
  );
}

/** The durable event for a final status, keyed by the EventBridge event id (redeliveries of it are duplicates); undefined for RUNNING and the like. */
export function executionEvent(change: ExecutionStatusChange): { name: string; id: string; data: ExecutionEventData } | undefined {
  const { detail } = change;
  if (!FINAL_STATUSES.includes(detail.status as ExecutionStatus)) return undefined;
  let output: unknown = null;
  if (typeof detail.output === 'string') {
    try {
      output = JSON.parse(detail.output);
    } catch {
      output = detail.output;
    }
  }
  return {
    name: EXECUTION_EVENT,
    id: `aws.states/${change.id}`,
    data: {
      executionArn: detail.executionArn,
      stateMachineArn: detail.stateMachineArn,
      status: detail.status as ExecutionStatus,
      output,
      outputIncluded: detail.outputDetails?.included ?? true,
      error: detail.error ?? null,
      cause: detail.cause ?? null,
    },
  };
}

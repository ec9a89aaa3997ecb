import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { SchedulerClient } from '@aws-sdk/client-scheduler';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { toMs, type Duration } from '../core/duration.ts';
import { LambdaInvokeTimer } from './lambda-invoke.ts';
import { SchedulerTimer } from './scheduler.ts';
import { StepFunctionsTimer } from './step-functions.ts';
import type { ResumeEvent } from '../core/resume.ts';
import type { Timer } from './timer.ts';

export interface AwsTimerOptions {
  /** Delays up to this are delivered at once by an async Lambda invoke. Default `0`: only resumes already due. */
  immediateMax?: Duration;
  /**
   * Delays shorter than this (and longer than `immediateMax`) use the Step Functions timer, second
   * precise; this and longer ones use EventBridge Scheduler. Default `'1m'`: an Express execution
   * bills its waiting time (about $1 per million per second waited at 64 MB), a schedule costs
   * $1 per million whatever the delay, so beyond a minute Scheduler is the cheaper one. At most
   * `'260s'`: an Express execution lasts at most 5 minutes, its start and the invoke included.
   */
  stepFunctionsMax?: Duration;
  /** Default: `DURABLE_TIMER_STATE_MACHINE_ARN`. */
  stateMachineArn?: string;
  /** Default: `DURABLE_SCHEDULER_GROUP`. */
  schedulerGroup?: string;
  /** Default: `DURABLE_SCHEDULER_ROLE_ARN`. */
  schedulerRoleArn?: string;
  /** The Lambda to resume when the resume event names none (`functionName`). Default: `AWS_LAMBDA_FUNCTION_NAME`, the function running this code. */
  functionName?: string;
  /** SDK clients, for custom configuration; by default each is created on first use. */
  clients?: { sfn?: SFNClient; scheduler?: SchedulerClient; lambda?: LambdaClient };
}

// Express executions stop at 5 minutes; keep room for the invoke task's own retries (1+2+4+8+16 s).
const EXPRESS_WAIT_LIMIT_MS = 260_000;

/**
 * The timer of a deployed endpoint: picks the AWS service by how far away the wake-up is.
 *
 * | delay | service |
 * | --- | --- |
 * | `<= immediateMax` (0) | Lambda async invoke |
 * | `< stepFunctionsMax` (1 min) | Express state machine: Wait, then invoke |
 * | longer, up to a year | EventBridge Scheduler one-time schedule, which starts the same state machine |
 *
 * Every option defaults to the environment the `DurableEndpoints` construct sets, so
 * `new AwsTimer()` is what `durable()` uses on AWS when no timer is configured.
 */
export class AwsTimer implements Timer {
  readonly immediateMax: number;
  readonly stepFunctionsMax: number;
  private readonly immediate: LambdaInvokeTimer;
  private readonly stepFunctions: StepFunctionsTimer;
  private readonly scheduler: SchedulerTimer;

  constructor(options: AwsTimerOptions = {}) {
    this.immediateMax = options.immediateMax === undefined ? 0 : toMs(options.immediateMax, 'immediateMax');
    this.stepFunctionsMax = options.stepFunctionsMax === undefined ? 60_000 : toMs(options.stepFunctionsMax, 'stepFunctionsMax');
    if (this.stepFunctionsMax > EXPRESS_WAIT_LIMIT_MS) {
      throw new RangeError(
        `AwsTimer: stepFunctionsMax is ${this.stepFunctionsMax} ms, but an Express state machine runs at most 5 minutes. Use '260s' or less.`,
      );
    }
    if (this.immediateMax > this.stepFunctionsMax) {
      throw new RangeError('AwsTimer: immediateMax must not be longer than stepFunctionsMax.');
    }
    const { functionName, stateMachineArn, clients = {} } = options;
    this.immediate = new LambdaInvokeTimer({ functionName, client: clients.lambda });
    this.stepFunctions = new StepFunctionsTimer({ functionName, stateMachineArn, client: clients.sfn });
    this.scheduler = new SchedulerTimer({
      functionName,
      stateMachineArn,
      group: options.schedulerGroup,
      roleArn: options.schedulerRoleArn,
      client: clients.scheduler,
    });
  }

  schedule(event: ResumeEvent, at: Date): Promise<void> {
    return this.timerFor(at.getTime() - Date.now()).schedule(event, at);
  }

  /** The adapter a wake-up `delayMs` from now goes to. */
  timerFor(delayMs: number): Timer {
    if (delayMs <= this.immediateMax) return this.immediate;
    if (delayMs < this.stepFunctionsMax) return this.stepFunctions;
    return this.scheduler;
  }
}

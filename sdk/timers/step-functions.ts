import type { SFNClient } from '@aws-sdk/client-sfn';
import { required, timerError, timerMessage, wakeUpName } from './delivery.ts';
import type { ResumeEvent } from '../core/resume.ts';
import type { Timer } from './timer.ts';
import { ENV } from '../core/contract.ts';

export interface StepFunctionsTimerOptions {
  /** The timer state machine. Default: `DURABLE_TIMER_STATE_MACHINE_ARN`, set by the construct. */
  stateMachineArn?: string;
  /** The Lambda to resume when the resume event names none (`functionName`). Default: `AWS_LAMBDA_FUNCTION_NAME`, the function running this code. */
  functionName?: string;
  /** Default: a client for the Lambda's region and credentials, created on first use. */
  client?: SFNClient;
}

const EXECUTION_NAME_MAX = 80;

/**
 * Short timers with second precision on the Express state machine of the `DurableEndpoints`
 * construct: a Wait state until the wake time, then an async invoke of the endpoint. Express
 * executions last at most 5 minutes, which is why longer delays go to EventBridge Scheduler.
 */
export class StepFunctionsTimer implements Timer {
  private readonly options: StepFunctionsTimerOptions;
  private client: SFNClient | undefined;

  constructor(options: StepFunctionsTimerOptions = {}) {
    this.options = options;
    this.client = options.client;
  }

  async schedule(event: ResumeEvent, at: Date): Promise<void> {
    const stateMachineArn = required(this.options.stateMachineArn ?? process.env[ENV.timerStateMachineArn], ENV.timerStateMachineArn, 'stateMachineArn');
    const functionName = required(event.functionName ?? this.options.functionName ?? process.env.AWS_LAMBDA_FUNCTION_NAME, 'AWS_LAMBDA_FUNCTION_NAME', 'functionName');
    // Loaded on the first suspension, not at cold start: the happy path never needs it.
    const { SFNClient, StartExecutionCommand } = await import('@aws-sdk/client-sfn');
    this.client ??= new SFNClient({});
    try {
      await this.client.send(
        new StartExecutionCommand({
          stateMachineArn,
          // Standard workflows de-duplicate by name; Express ones do not, and a second execution
          // is harmless anyway: the endpoint takes a run only for the attempt that suspended.
          name: wakeUpName(event, EXECUTION_NAME_MAX),
          input: JSON.stringify(timerMessage(functionName, event, at)),
        }),
      );
    } catch (error) {
      if ((error as Error).name === 'ExecutionAlreadyExists') return; // this wake-up is already armed
      throw timerError('Step Functions StartExecution', event, error);
    }
  }
}
